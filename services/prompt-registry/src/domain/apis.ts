import { Context, Output, toValueSync, type Template, type Value } from "liquidjs";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { TesseraError, type PromptApiConfig } from "@tessera/runtime";
import { bind, declare, liquid, type Declared, type Prompt, type Registry, type Rendered } from "./registry.js";

/** How one variable of a step's prompt is made from the API's input and earlier outputs. */
interface Mapping {
  variable: string;
  /** The expression of a lone `{{ … }}`: evaluated to a value of any type. */
  value?: Value;
  /** Any other template: rendered to text. */
  template: Template[];
}

/** One step as planned: the prompt version it renders and how its variables are made. */
export interface PlannedStep {
  name: string;
  prompt: string;
  label: string;
  version: number;
  /** Undefined: the API's input is the prompt's variables, as given. */
  mappings?: Mapping[];
}

/** A published API, checked and compiled. */
export interface PlannedApi {
  /** The API's declared input; undefined when the single prompt's own variables are the input. */
  input?: Declared[];
  steps: PlannedStep[];
}

const ROOTS = "mappings read input.<name> and steps.<name>.output";

/** The prompt a tenant's API may use: its own, or one shared by every tenant. */
function findPrompt(prompts: Prompt[], tenant: string, name: string): Prompt | undefined {
  return prompts.find((p) => p.name === name && p.tenant === tenant) ?? prompts.find((p) => p.name === name && p.tenant === "*");
}

/** The steps of an API as configured: a single prompt is a chain of one step named after it. */
function stepsOf(a: PromptApiConfig) {
  return a.steps ?? [{ name: a.prompt!, prompt: a.prompt!, label: a.label, version: a.version, variables: a.variables }];
}

/** Steps reachable from `from` by following references; the path to `to` when it is among them. */
function pathTo(refs: Set<number>[], from: number, to: number, seen = new Set<number>()): number[] | undefined {
  if (from === to) return [to];
  if (seen.has(from)) return undefined;
  seen.add(from);
  for (const next of refs[from]!) {
    const rest = pathTo(refs, next, to, seen);
    if (rest) return [from, ...rest];
  }
  return undefined;
}

/**
 * Check and compile the published APIs against the prompts, once at load: each step's prompt,
 * label or version must exist; mappings must be Liquid that names declared variables of the
 * step's prompt, reads only declared input and earlier steps (a forward reference or a cycle is
 * refused, naming it), reads properties of an output only when its schema declares them, and
 * leaves no required variable unmapped. Errors name the field, as configuration errors do.
 */
export function planApis(apis: PromptApiConfig[], prompts: Prompt[]): Map<string, PlannedApi> {
  const out = new Map<string, PlannedApi>();
  apis.forEach((a, i) => {
    const at = `prompt_apis.${i}`;
    const steps = stepsOf(a);
    const chain = a.steps !== undefined;
    const input = a.input.length > 0 || steps.some((s) => s.variables) ? a.input.map(declare) : undefined;
    const inputNames = new Set((input ?? []).map((d) => d.name));
    if (!chain && a.input.length > 0 && !a.variables) throw new Error(`${at}.input: an API with input maps it to the prompt's variables (set variables)`);
    const names = steps.map((s) => s.name);
    // Which steps each step reads, filled in as mappings are checked (for cycles).
    const refs = steps.map(() => new Set<number>());
    const versions = steps.map((s, j) => {
      const where = chain ? `${at}.steps.${j}` : at;
      if (names.indexOf(s.name) !== j) throw new Error(`${where}.name: duplicate step name '${s.name}'`);
      const p = findPrompt(prompts, a.tenant, s.prompt);
      if (!p) throw new Error(`${where}.prompt: unknown prompt '${s.prompt}' for tenant ${a.tenant}`);
      const want = s.version ?? p.labels[s.label ?? "production"];
      if (want === undefined) throw new Error(`${where}.label: prompt '${s.prompt}' has no label '${s.label ?? "production"}' (labels: ${Object.keys(p.labels).join(", ") || "none"})`);
      const v = p.versions.find((x) => x.version === want);
      if (!v) throw new Error(`${where}.version: prompt '${s.prompt}' has no version ${want}`);
      if (chain && !s.variables) throw new Error(`${where}.variables: every step of a chain maps its prompt's variables (use {} when it has none)`);
      return v;
    });
    const planned: PlannedStep[] = steps.map((s, j) => {
      const where = chain ? `${at}.steps.${j}` : at;
      const v = versions[j]!;
      const base = { name: s.name, prompt: s.prompt, label: s.label ?? "", version: s.version ?? 0 };
      if (!s.variables) return base;
      const declared = v.variables.map(declare);
      const mappings = Object.entries(s.variables).map(([variable, src]): Mapping => {
        const field = `${where}.variables.${variable}`;
        if (!declared.some((d) => d.name === variable))
          throw new Error(`${field}: prompt '${s.prompt}' version ${v.version} has no variable '${variable}' (it takes ${declared.map((d) => d.name).join(", ") || "none"})`);
        let template: Template[];
        try {
          template = liquid.parse(src);
        } catch (err) {
          throw new Error(`${field}: template syntax error: ${(err as Error).message.split("\n")[0]}`);
        }
        for (const seg of liquid.globalVariableSegmentsSync(template)) {
          const [root, name, what, prop] = seg.map(String);
          if (root === "input") {
            if (!name || !inputNames.has(name)) throw new Error(`${field}: reads input.${name ?? ""}, which is not declared under input (declared: ${[...inputNames].join(", ") || "none"})`);
            continue;
          }
          if (root !== "steps" || !name) throw new Error(`${field}: unknown name '${seg.join(".")}'; ${ROOTS}`);
          const k = names.indexOf(name);
          if (k < 0) throw new Error(`${field}: unknown step '${name}' (steps: ${names.join(", ")})`);
          if (k === j) throw new Error(`${field}: step '${s.name}' reads its own output`);
          refs[j]!.add(k);
          if (what !== "output") throw new Error(`${field}: steps.${name} has only output (steps.${name}.output)`);
          const schema = versions[k]!.output_schema;
          if (prop !== undefined) {
            if (!schema) throw new Error(`${field}: step '${name}' answers text (prompt '${steps[k]!.prompt}' version ${versions[k]!.version} has no output_schema); read steps.${name}.output`);
            const props = schema["properties"] as Record<string, unknown> | undefined;
            if (props && !(prop in props)) throw new Error(`${field}: the output of step '${name}' has no property '${prop}' (its output_schema declares ${Object.keys(props).join(", ")})`);
          }
        }
        const lone = src.trim().startsWith("{{") ? liquid.parse(src.trim()) : [];
        return lone.length === 1 && lone[0] instanceof Output ? { variable, template, value: lone[0].value } : { variable, template };
      });
      for (const d of declared)
        if (d.required && d.default === undefined && !(d.name in s.variables))
          throw new Error(`${where}.variables: required variable '${d.name}' of prompt '${s.prompt}' is not mapped`);
      return { ...base, mappings };
    });
    // Steps run in order, so reading a later step is an error; say whether it closes a cycle.
    refs.forEach((rs, j) => {
      for (const k of rs) {
        if (k < j) continue;
        const cycle = pathTo(refs, k, j);
        throw new Error(
          cycle
            ? `${at}.steps.${j}.variables: cycle between steps: ${[j, ...cycle].map((x) => names[x]).join(" → ")}`
            : `${at}.steps.${j}.variables: step '${names[j]}' reads step '${names[k]}', which runs after it (steps run in the order listed)`,
        );
      }
    });
    out.set(`${a.tenant}\u0000${a.path}`, { ...(input ? { input } : {}), steps: planned });
  });
  return out;
}

/**
 * The published prompt APIs: looked up by the caller's tenant and path, their input checked,
 * and each step rendered through the registry with its variables mapped from the chain so far.
 */
export function createApis(configured: PromptApiConfig[], prompts: Prompt[], registry: Registry) {
  const apis = planApis(configured, prompts);

  function find(tenant: string, path: string): PlannedApi {
    const api = apis.get(`${tenant}\u0000${path}`);
    if (!api) throw new TesseraError("not_found", `There is no prompt API at ${path} for your tenant.`, { code: "api_not_found" });
    return api;
  }

  /** A step's variables from its mappings; a mapping that cannot be evaluated names the variable and why. */
  function variablesOf(step: PlannedStep, context: JsonObject): JsonObject {
    if (!step.mappings) return (context["input"] ?? {}) as JsonObject;
    const vars: JsonObject = {};
    const ctx = new Context(context, liquid.options, {}, { liquid });
    for (const m of step.mappings) {
      try {
        vars[m.variable] = (m.value ? toValueSync(m.value.value(ctx)) : liquid.renderSync(m.template, context)) as JsonValue;
      } catch (err) {
        throw new TesseraError("upstream_error", `Variable '${m.variable}' of prompt '${step.prompt}' could not be mapped: ${(err as Error).message.split(", line:")[0]}.`, {
          code: "chain_mapping_failed",
          status: 502,
        });
      }
    }
    return vars;
  }

  return {
    /** The API's steps and its input, checked against its declarations (400 naming the variable). */
    resolve(tenant: string, path: string, variables: JsonObject): { steps: { name: string; prompt: string }[]; input: JsonObject } {
      const api = find(tenant, path);
      const input = api.input ? (bind(`API '${path}'`, api.input, variables) as JsonObject) : variables;
      return { steps: api.steps.map((s) => ({ name: s.name, prompt: s.prompt })), input };
    },
    /**
     * Render step `index` with its variables mapped from `context` ({ input, steps }); a label
     * that splits traffic serves the caller (`stickyKey`) the same version every time.
     */
    renderStep(tenant: string, path: string, index: number, context: JsonObject, stickyKey = ""): Rendered {
      const step = find(tenant, path).steps[index];
      if (!step) throw new TesseraError("invalid_request", `Prompt API ${path} has no step ${index}.`, { code: "step_not_found", param: "step" });
      return registry.render(tenant, step.prompt, step.label, step.version, variablesOf(step, context), stickyKey);
    },
  };
}

/** The published APIs' interface. */
export type Apis = ReturnType<typeof createApis>;
