import { TesseraError } from "@tessera/runtime";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

/** One immutable prompt version. */
export interface PromptVersion {
  version: number;
  model: string;
  messages: { role: "system" | "user" | "assistant"; content: string }[];
  variables: string[];
}

/** A prompt: versions and labels pointing at them. */
export interface Prompt {
  name: string;
  /** Tenant that owns it, or "*" for every tenant. */
  tenant: string;
  versions: PromptVersion[];
  labels: Record<string, number>;
}

/** A rendered prompt. */
export interface Rendered {
  version: number;
  model: string;
  messages: { role: "system" | "user" | "assistant"; content: string }[];
}

const VAR = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

function stringify(v: JsonValue): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * Prompts from static configuration, rendered with `{{variable}}` substitution. Every
 * variable a template uses must be declared, and every declared variable given, so a typo
 * fails loudly instead of reaching the model as literal braces.
 */
export function createRegistry(prompts: Prompt[]) {
  const byKey = new Map<string, Prompt>();
  for (const p of prompts) {
    for (const v of p.versions)
      for (const m of v.messages)
        for (const [, name] of m.content.matchAll(VAR))
          if (!v.variables.includes(name!))
            throw new Error(`prompts.${p.name}.versions.${v.version}: template uses undeclared variable '${name}'`);
    byKey.set(`${p.tenant}\u0000${p.name}`, p);
  }
  return {
    render(tenant: string, name: string, label: string, version: number, vars: JsonObject): Rendered {
      const p = byKey.get(`${tenant}\u0000${name}`) ?? byKey.get(`*\u0000${name}`);
      if (!p) throw new TesseraError("not_found", `Prompt '${name}' does not exist.`, { code: "prompt_not_found", param: "name" });
      const want = version || p.labels[label || "production"];
      if (want === undefined)
        throw new TesseraError("not_found", `Prompt '${name}' has no label '${label || "production"}'.`, { code: "label_not_found", param: "label" });
      const v = p.versions.find((x) => x.version === want);
      if (!v) throw new TesseraError("not_found", `Prompt '${name}' has no version ${want}.`, { code: "version_not_found", param: "version" });
      for (const n of v.variables)
        if (!(n in vars)) throw new TesseraError("invalid_request", `Missing variable '${n}' for prompt '${name}'.`, { param: `variables.${n}` });
      return {
        version: v.version,
        model: v.model,
        messages: v.messages.map((m) => ({ role: m.role, content: m.content.replace(VAR, (_, n: string) => stringify(vars[n]!)) })),
      };
    },
  };
}

/** The registry's interface. */
export type Registry = ReturnType<typeof createRegistry>;
