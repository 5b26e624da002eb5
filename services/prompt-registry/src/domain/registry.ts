import { Liquid, type Template } from "liquidjs";
import { Ajv } from "ajv";
import { TesseraError } from "@tessera/runtime";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { pickVersion, splitProblem, type SplitEntry } from "./split.js";

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

/** Where a label points: one version, or a split of traffic between versions (canary, A/B). */
export type LabelTarget = number | SplitEntry[];

/** A prompt: versions and labels pointing at them. */
export interface Prompt {
  name: string;
  /** Tenant that owns it, or "*" for every tenant. */
  tenant: string;
  versions: PromptVersion[];
  labels: Record<string, LabelTarget>;
}

/** A label's target as a split (one version: a split of one). */
export const asSplit = (t: LabelTarget): SplitEntry[] => (typeof t === "number" ? [{ version: t, weight: 1 }] : t);

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

/** A version ready to render: templates parsed, variables declared. */
export interface CompiledVersion {
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

/** A version that does not compile: `path` is the field at fault within the version, e.g. "messages.0". */
export class CompileError extends Error {
  override readonly name = "CompileError";
  constructor(
    readonly path: string,
    readonly reason: string,
    where: string,
  ) {
    super(`${where}.${path}: ${reason}`);
  }
}

/**
 * Compile one version: Liquid templates parsed (a syntax error names the message), every
 * variable a template reads declared (a typo fails here, not at call time), defaults of their
 * declared type, the output schema a valid JSON Schema. `where` prefixes errors
 * ("prompts.summarize.versions.2").
 */
export function compileVersion(v: PromptVersion, where: string): CompiledVersion {
  const vars = v.variables.map(declare);
  const names = new Set(vars.map((d) => d.name));
  const templates = v.messages.map((m, i) => {
    let t: Template[];
    try {
      t = liquid.parse(m.content);
    } catch (err) {
      throw new CompileError(`messages.${i}`, `template syntax error: ${(err as Error).message.split("\n")[0]}`, where);
    }
    for (const used of liquid.globalVariablesSync(t))
      if (!names.has(used)) throw new CompileError(`messages.${i}`, `template uses undeclared variable '${used}' (declare it under variables)`, where);
    return t;
  });
  if (v.output_schema)
    try {
      new Ajv({ strict: false }).compile(v.output_schema);
    } catch (err) {
      throw new CompileError("output_schema", `not a valid JSON Schema: ${(err as Error).message}`, where);
    }
  for (const d of vars)
    if (d.default !== undefined && !TYPE_OK[d.type](d.default as JsonValue)) throw new CompileError(`variables.${d.name}`, `default is not a ${d.type}`, where);
  return { v, vars, templates };
}

/** Compile every version of a configured prompt once, and check its labels point at them. */
function compile(p: Prompt): Map<number, CompiledVersion> {
  const out = new Map<number, CompiledVersion>();
  for (const v of p.versions) out.set(v.version, compileVersion(v, `prompts.${p.name}.versions.${v.version}`));
  for (const [label, target] of Object.entries(p.labels)) {
    const problem = splitProblem(asSplit(target), (n) => out.has(n));
    if (problem) throw new Error(`prompts.${p.name}.labels.${label}: ${problem}`);
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

/** Render a compiled version of prompt `name` with the call's variables (checked against their declarations). */
export function renderVersion(name: string, c: CompiledVersion, vars: JsonObject): Rendered {
  const scope = bind(`prompt '${name}'`, c.vars, vars);
  let messages;
  try {
    messages = c.v.messages.map((m, i) => ({ role: m.role, content: liquid.renderSync(c.templates[i]!, scope) as string }));
  } catch (err) {
    throw new TesseraError("invalid_request", `Prompt '${name}' version ${c.v.version} could not be rendered with these variables: ${(err as Error).message.split("\n")[0]}`, { code: "render_failed" });
  }
  return { version: c.v.version, model: c.v.model, messages, maxTokens: c.v.max_tokens, temperature: c.v.temperature, outputSchema: c.v.output_schema };
}

/** The prompt has no such label (404 naming the labels it has). */
export function noLabel(name: string, label: string, labels: string[]): TesseraError {
  return new TesseraError("not_found", `Prompt '${name}' has no label '${label}' (labels: ${labels.join(", ") || "none"}).`, { code: "label_not_found", param: "label" });
}

/** The prompt does not exist (404). */
export function noPrompt(name: string): TesseraError {
  return new TesseraError("not_found", `Prompt '${name}' does not exist.`, { code: "prompt_not_found", param: "name" });
}

/** The prompt has no such version (404). */
export function noVersion(name: string, version: number): TesseraError {
  return new TesseraError("not_found", `Prompt '${name}' has no version ${version}.`, { code: "version_not_found", param: "version" });
}

/**
 * The version a call asks for: `version` when given, else the label's (default "production"),
 * picked from its split by the caller's sticky key.
 */
export function wantedVersion(name: string, label: string, version: number, labels: ReadonlyMap<string, SplitEntry[]>, stickyKey: string): number {
  if (version) return version;
  const l = label || "production";
  const split = labels.get(l);
  if (!split) throw noLabel(name, l, [...labels.keys()]);
  return pickVersion(split, name, l, stickyKey);
}

/**
 * Prompts from static configuration (config as code), rendered with Liquid. Lookup by the
 * caller's tenant first, then prompts shared by every tenant ("*").
 */
export function createRegistry(prompts: Prompt[]) {
  const byKey = new Map<string, { p: Prompt; labels: Map<string, SplitEntry[]>; versions: Map<number, CompiledVersion> }>();
  for (const p of prompts)
    byKey.set(`${p.tenant}\u0000${p.name}`, { p, versions: compile(p), labels: new Map(Object.entries(p.labels).map(([l, t]) => [l, asSplit(t)])) });
  const find = (tenant: string, name: string) => byKey.get(`${tenant}\u0000${name}`) ?? byKey.get(`*\u0000${name}`);
  return {
    /** Whether the configuration has this prompt for the tenant (its own, or one for every tenant). */
    has(tenant: string, name: string): boolean {
      return find(tenant, name) !== undefined;
    },
    render(tenant: string, name: string, label: string, version: number, vars: JsonObject, stickyKey = ""): Rendered {
      const e = find(tenant, name);
      if (!e) throw noPrompt(name);
      const want = wantedVersion(name, label, version, e.labels, stickyKey);
      const c = e.versions.get(want);
      if (!c) throw noVersion(name, want);
      return renderVersion(name, c, vars);
    },
  };
}

/** The registry's interface. */
export type Registry = ReturnType<typeof createRegistry>;
