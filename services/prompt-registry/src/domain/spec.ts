import { createHash } from "node:crypto";
import { PromptVersionSchema, TesseraError } from "@tessera/runtime";
import { CompileError, compileVersion, type VariableSpec } from "./registry.js";
import type { VersionSpec } from "./store.js";

/** A version's content as given (YAML or JSON shape), checked, compiled and canonical. */
export interface CheckedSpec {
  spec: VersionSpec;
  /** sha256 of the canonical JSON: equal content, equal digest. */
  digest: string;
}

const SpecSchema = PromptVersionSchema.omit({ version: true });

/** JSON with object keys sorted at every depth, so equal values give equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

/**
 * One way to write each variable: a bare name for a required string with nothing else set,
 * otherwise an object without `required` when it says what its default implies. So the same
 * declaration written either way is the same content (and digest).
 */
function canonicalVariable(v: VariableSpec): VariableSpec {
  if (typeof v === "string") return v;
  const required = v.required ?? v.default === undefined;
  if (v.type === "string" && v.default === undefined && required && !v.enum && !v.description) return v.name;
  return {
    name: v.name,
    type: v.type,
    ...(v.default !== undefined ? { default: v.default } : {}),
    ...(required !== (v.default === undefined) ? { required } : {}),
    ...(v.enum ? { enum: v.enum } : {}),
    ...(v.description ? { description: v.description } : {}),
  };
}

const invalid = (param: string, message: string) => new TesseraError("invalid_request", `${param}: ${message}`, { param, code: "invalid_version" });

/**
 * Check a version's content before anything is stored: the fields and their types, the
 * templates (Liquid syntax, declared variables), the output schema, and that the model is one
 * the gateway serves. Errors are 400s whose param is `${at}.<field>` (e.g.
 * "spec.messages.0"), naming what is wrong.
 */
export function checkSpec(raw: unknown, at: string, models: ReadonlySet<string>): CheckedSpec {
  const parsed = SpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid([at, ...issue.path.map(String)].join("."), issue.message);
  }
  const p = parsed.data;
  const spec: VersionSpec = {
    model: p.model,
    messages: p.messages.map((m) => ({ role: m.role, content: m.content })),
    variables: p.variables.map((v) => canonicalVariable(v as VariableSpec)),
    ...(p.max_tokens !== undefined ? { max_tokens: p.max_tokens } : {}),
    ...(p.temperature !== undefined ? { temperature: p.temperature } : {}),
    ...(p.output_schema !== undefined ? { output_schema: p.output_schema } : {}),
  };
  if (!models.has(spec.model)) {
    const known = [...models].slice(0, 20).join(", ");
    throw invalid(`${at}.model`, `unknown model '${spec.model.slice(0, 100)}' (models: ${known || "none"}${models.size > 20 ? ", …" : ""})`);
  }
  try {
    compileVersion({ version: 0, ...spec }, at);
  } catch (err) {
    if (err instanceof CompileError) throw invalid(`${at}.${err.path}`, err.reason);
    throw err;
  }
  return { spec, digest: createHash("sha256").update(canonicalJson(spec)).digest("hex") };
}
