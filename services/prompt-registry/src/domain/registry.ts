import { Liquid, type Template } from "liquidjs";
import { Ajv } from "ajv";
import { TesseraError } from "@tessera/runtime";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

/** The type a declared variable takes. */
export type VariableType = "string" | "number" | "integer" | "boolean" | "array" | "object";

/** A variable as configured: a bare name (a required string), or a full declaration. */
export type VariableSpec =
  | string
  | { name: string; type: VariableType; default?: unknown; required?: boolean | undefined; enum?: string[] | undefined; description?: string | undefined };

/** One immutable prompt version. */
export interface PromptVersion {
  version: number;
  model: string;
  messages: { role: "system" | "user" | "assistant"; content: string }[];
  variables: VariableSpec[];
  max_tokens?: number | undefined;
  temperature?: number | undefined;
  output_schema?: Record<string, unknown> | undefined;
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
  maxTokens?: number | undefined;
  temperature?: number | undefined;
  outputSchema?: Record<string, unknown> | undefined;
}

/** A variable declaration, defaults applied. */
export interface Declared {
  name: string;
  type: VariableType;
  required: boolean;
  default?: unknown;
  enum?: string[] | undefined;
}

interface CompiledVersion {
  v: PromptVersion;
  vars: Declared[];
  templates: Template[][];
}

/**
 * Liquid (a well-known, logic-limited template language: variables, conditionals, loops, filters;
 * no code execution, no file access) with strict variables, own properties only, and bounded
 * rendering, so a template cannot reach beyond the values it is given.
 */
export const liquid = new Liquid({ strictVariables: true, strictFilters: true, ownPropertyOnly: true, cache: false, jsTruthy: false, renderLimit: 1000, memoryLimit: 16 * 1024 * 1024, parseLimit: 1024 * 1024 });

export function declare(spec: VariableSpec): Declared {
  if (typeof spec === "string") return { name: spec, type: "string", required: true };
  return { name: spec.name, type: spec.type, required: spec.required ?? spec.default === undefined, default: spec.default, enum: spec.enum };
}

const TYPE_OK: Record<VariableType, (v: JsonValue) => boolean> = {
  string: (v) => typeof v === "string",
  number: (v) => typeof v === "number" && Number.isFinite(v),
  integer: (v) => typeof v === "number" && Number.isInteger(v),
  boolean: (v) => typeof v === "boolean",
  array: (v) => Array.isArray(v),
  object: (v) => typeof v === "object" && v !== null && !Array.isArray(v),
};

/**
 * Compile every prompt version once: Liquid templates parsed (a syntax error stops start-up,
 * naming the prompt, version and message), and every variable a template reads declared (a
 * typo fails at load, not at call time).
 */
function compile(p: Prompt): Map<number, CompiledVersion> {
  const out = new Map<number, CompiledVersion>();
  for (const v of p.versions) {
    const vars = v.variables.map(declare);
    const names = new Set(vars.map((d) => d.name));
    const templates = v.messages.map((m, i) => {
      const where = `prompts.${p.name}.versions.${v.version}.messages.${i}`;
      let t: Template[];
      try {
        t = liquid.parse(m.content);
      } catch (err) {
        throw new Error(`${where}: template syntax error: ${(err as Error).message.split("\n")[0]}`);
      }
      for (const used of liquid.globalVariablesSync(t))
        if (!names.has(used)) throw new Error(`${where}: template uses undeclared variable '${used}' (declare it under variables)`);
      return t;
    });
    if (v.output_schema)
      try {
        new Ajv({ strict: false }).compile(v.output_schema);
      } catch (err) {
        throw new Error(`prompts.${p.name}.versions.${v.version}.output_schema: not a valid JSON Schema: ${(err as Error).message}`);
      }
    for (const d of vars)
      if (d.default !== undefined && !TYPE_OK[d.type](d.default as JsonValue))
        throw new Error(`prompts.${p.name}.versions.${v.version}.variables.${d.name}: default is not a ${d.type}`);
    out.set(v.version, { v, vars, templates });
  }
  return out;
}

/**
 * Check the call's variables against the declarations of `what` (e.g. "prompt 'summarize'");
 * defaults filled in.
 */
export function bind(what: string, decl: Declared[], given: JsonObject): Record<string, unknown> {
  const scope: Record<string, unknown> = {};
  const known = new Set(decl.map((d) => d.name));
  for (const k of Object.keys(given))
    if (!known.has(k)) throw new TesseraError("invalid_request", `${what[0]!.toUpperCase()}${what.slice(1)} has no variable '${k}' (it takes ${[...known].join(", ") || "none"}).`, { param: `variables.${k}`, code: "unknown_variable" });
  for (const d of decl) {
    const v = given[d.name];
    if (v === undefined || v === null) {
      if (d.default !== undefined) scope[d.name] = d.default;
      else if (d.required) throw new TesseraError("invalid_request", `Missing variable '${d.name}' for ${what}.`, { param: `variables.${d.name}`, code: "missing_variable" });
      else scope[d.name] = "";
      continue;
    }
    if (!TYPE_OK[d.type](v)) throw new TesseraError("invalid_request", `Variable '${d.name}' of ${what} must be ${d.type === "integer" || d.type === "array" || d.type === "object" ? "an" : "a"} ${d.type}.`, { param: `variables.${d.name}`, code: "invalid_variable" });
    if (d.enum && !d.enum.includes(v as string))
      throw new TesseraError("invalid_request", `Variable '${d.name}' of ${what} must be one of ${d.enum.join(", ")}.`, { param: `variables.${d.name}`, code: "invalid_variable" });
    scope[d.name] = v;
  }
  return scope;
}

/**
 * Prompts from static configuration (config as code), rendered with Liquid. Lookup by the
 * caller's tenant first, then prompts shared by every tenant ("*").
 */
export function createRegistry(prompts: Prompt[]) {
  const byKey = new Map<string, { p: Prompt; versions: Map<number, CompiledVersion> }>();
  for (const p of prompts) byKey.set(`${p.tenant}\u0000${p.name}`, { p, versions: compile(p) });
  return {
    render(tenant: string, name: string, label: string, version: number, vars: JsonObject): Rendered {
      const e = byKey.get(`${tenant}\u0000${name}`) ?? byKey.get(`*\u0000${name}`);
      if (!e) throw new TesseraError("not_found", `Prompt '${name}' does not exist.`, { code: "prompt_not_found", param: "name" });
      const want = version || e.p.labels[label || "production"];
      if (want === undefined)
        throw new TesseraError("not_found", `Prompt '${name}' has no label '${label || "production"}' (labels: ${Object.keys(e.p.labels).join(", ") || "none"}).`, { code: "label_not_found", param: "label" });
      const c = e.versions.get(want);
      if (!c) throw new TesseraError("not_found", `Prompt '${name}' has no version ${want}.`, { code: "version_not_found", param: "version" });
      const scope = bind(`prompt '${name}'`, c.vars, vars);
      let messages;
      try {
        messages = c.v.messages.map((m, i) => ({ role: m.role, content: liquid.renderSync(c.templates[i]!, scope) as string }));
      } catch (err) {
        throw new TesseraError("invalid_request", `Prompt '${name}' version ${want} could not be rendered with these variables: ${(err as Error).message.split("\n")[0]}`, { code: "render_failed" });
      }
      return { version: c.v.version, model: c.v.model, messages, maxTokens: c.v.max_tokens, temperature: c.v.temperature, outputSchema: c.v.output_schema };
    },
  };
}

/** The registry's interface. */
export type Registry = ReturnType<typeof createRegistry>;
