import { Context, Output, toValueSync, type Template, type Value } from "liquidjs";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { createTtlCache, TesseraError, type PromptApiConfig, type PublishedApi } from "@tessera/runtime";
import { asSplit, bind, declare, liquid, type Declared, type Prompt, type PromptVersion } from "./registry.js";
import type { PromptRenderer } from "./renderer.js";
import type { SplitEntry } from "./split.js";
import type { PromptStore } from "./store.js";

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
  /** Who may call it, for authz; no list set: every caller of the tenant. */
  access: PublishedApi["access"];
  requiresApproval: boolean;
}

/** What the checker needs of a prompt a step names: its labels, and its versions by number. */
export interface StepPrompt {
  labels: ReadonlyMap<string, SplitEntry[]>;
  version(n: number): PromptVersion | undefined;
}

/** The prompts one tenant's APIs may name, by name. */
export type PromptLookup = (name: string) => StepPrompt | undefined;

/** A published API that does not check: `field` is where (e.g. "prompt_apis.0.steps.1.variables.topic"). */
export class ApiPlanError extends Error {
  override readonly name = "ApiPlanError";
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

const ROOTS = "mappings read input.<name> and steps.<name>.output";

/** The configuration's prompts as each tenant's APIs see them: the tenant's own, else one shared by every tenant. */
export function configPrompts(prompts: Prompt[]): (tenant: string) => PromptLookup {
  const byKey = new Map(
    prompts.map((p): [string, StepPrompt] => [
      `${p.tenant}\u0000${p.name}`,
      { labels: new Map(Object.entries(p.labels).map(([l, t]) => [l, asSplit(t)])), version: (n) => p.versions.find((v) => v.version === n) },
    ]),
  );
  return (tenant) => (name) => byKey.get(`${tenant}\u0000${name}`) ?? byKey.get(`*\u0000${name}`);
}

/** The steps of an API as defined: a single prompt is a chain of one step named after it. */
function stepsOf(a: PublishedApi) {
  return a.steps ?? [{ name: a.prompt!, prompt: a.prompt!, label: a.label, version: a.version, variables: a.variables }];
}

/** The stored prompts an API's steps name (not the configuration's), each once, sorted. */
export function storedPromptsOf(a: PublishedApi, config: PromptLookup): string[] {
  return [...new Set(stepsOf(a).map((s) => s.prompt))].filter((n) => !config(n)).sort();
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
 * Check and compile one published API against the prompts it may name (`lookup`), wherever the
 * API is defined (the configuration, at load; the prompt store, at publish): each step's
 * prompt, label or version must exist; mappings must be Liquid that names declared variables
 * of the step's prompt, reads only declared input and earlier steps (a forward reference or a
 * cycle is refused, naming it), reads properties of an output only when its schema declares
 * them, and leaves no required variable unmapped. A label that splits traffic is checked
 * against every version it may serve. Errors are ApiPlanErrors naming the field under `at`.
 */
export function planApi(a: PublishedApi, at: string, tenant: string, lookup: PromptLookup): PlannedApi {
  const steps = stepsOf(a);
  const chain = a.steps !== undefined;
  const input = a.input.length > 0 || steps.some((s) => s.variables) ? a.input.map(declare) : undefined;
  const inputNames = new Set((input ?? []).map((d) => d.name));
  if (!chain && a.input.length > 0 && !a.variables) throw new ApiPlanError(`${at}.input`, "an API with input maps it to the prompt's variables (set variables)");
  const names = steps.map((s) => s.name);
  // Which steps each step reads, filled in as mappings are checked (for cycles).
  const refs = steps.map(() => new Set<number>());
  // The versions each step may render: its version, or every version its label's split serves.
  const candidates = steps.map((s, j): PromptVersion[] => {
    const where = chain ? `${at}.steps.${j}` : at;
    if (names.indexOf(s.name) !== j) throw new ApiPlanError(`${where}.name`, `duplicate step name '${s.name}'`);
    const p = lookup(s.prompt);
    if (!p) throw new ApiPlanError(`${where}.prompt`, `unknown prompt '${s.prompt}' for tenant ${tenant}`);
    const label = s.label ?? "production";
    const wanted = s.version ? [s.version] : p.labels.get(label)?.map((e) => e.version);
    if (!wanted) throw new ApiPlanError(`${where}.label`, `prompt '${s.prompt}' has no label '${label}' (labels: ${[...p.labels.keys()].join(", ") || "none"})`);
    if (chain && !s.variables) throw new ApiPlanError(`${where}.variables`, "every step of a chain maps its prompt's variables (use {} when it has none)");
    return wanted.map((n) => p.version(n) ?? raise(`${where}.version`, `prompt '${s.prompt}' has no version ${n}`));
  });
  const planned: PlannedStep[] = steps.map((s, j) => {
    const where = chain ? `${at}.steps.${j}` : at;
    const base = { name: s.name, prompt: s.prompt, label: s.label ?? "", version: s.version ?? 0 };
    if (!s.variables) return base;
    const mapped = s.variables;
    const mappings = Object.entries(mapped).map(([variable, src]): Mapping => {
      const field = `${where}.variables.${variable}`;
      for (const v of candidates[j]!) {
        const declared = v.variables.map(declare);
        if (!declared.some((d) => d.name === variable))
          throw new ApiPlanError(field, `prompt '${s.prompt}' version ${v.version} has no variable '${variable}' (it takes ${declared.map((d) => d.name).join(", ") || "none"})`);
      }
      let template: Template[];
      try {
        template = liquid.parse(src);
      } catch (err) {
        throw new ApiPlanError(field, `template syntax error: ${(err as Error).message.split("\n")[0]}`);
      }
      for (const seg of liquid.globalVariableSegmentsSync(template)) {
        const [root, name, what, prop] = seg.map(String);
        if (root === "input") {
          if (!name || !inputNames.has(name)) throw new ApiPlanError(field, `reads input.${name ?? ""}, which is not declared under input (declared: ${[...inputNames].join(", ") || "none"})`);
          continue;
        }
        if (root !== "steps" || !name) throw new ApiPlanError(field, `unknown name '${seg.join(".")}'; ${ROOTS}`);
        const k = names.indexOf(name);
        if (k < 0) throw new ApiPlanError(field, `unknown step '${name}' (steps: ${names.join(", ")})`);
        if (k === j) throw new ApiPlanError(field, `step '${s.name}' reads its own output`);
        refs[j]!.add(k);
        if (what !== "output") throw new ApiPlanError(field, `steps.${name} has only output (steps.${name}.output)`);
        if (prop === undefined) continue;
        for (const v of candidates[k]!) {
          const schema = v.output_schema;
          if (!schema) throw new ApiPlanError(field, `step '${name}' answers text (prompt '${steps[k]!.prompt}' version ${v.version} has no output_schema); read steps.${name}.output`);
          const props = schema["properties"] as Record<string, unknown> | undefined;
          if (props && !(prop in props)) throw new ApiPlanError(field, `the output of step '${name}' has no property '${prop}' (its output_schema declares ${Object.keys(props).join(", ")})`);
        }
      }
      const lone = src.trim().startsWith("{{") ? liquid.parse(src.trim()) : [];
      return lone.length === 1 && lone[0] instanceof Output ? { variable, template, value: lone[0].value } : { variable, template };
    });
    for (const v of candidates[j]!)
      for (const d of v.variables.map(declare))
        if (d.required && d.default === undefined && !(d.name in mapped))
          throw new ApiPlanError(`${where}.variables`, `required variable '${d.name}' of prompt '${s.prompt}' is not mapped`);
    return { ...base, mappings };
  });
  // Steps run in order, so reading a later step is an error; say whether it closes a cycle.
  refs.forEach((rs, j) => {
    for (const k of rs) {
      if (k < j) continue;
      const cycle = pathTo(refs, k, j);
      throw new ApiPlanError(
        `${at}.steps.${j}.variables`,
        cycle
          ? `cycle between steps: ${[j, ...cycle].map((x) => names[x]).join(" → ")}`
          : `step '${names[j]}' reads step '${names[k]}', which runs after it (steps run in the order listed)`,
      );
    }
  });
  return { ...(input ? { input } : {}), steps: planned, access: a.access, requiresApproval: a.requires_approval };
}

function raise(field: string, reason: string): never {
  throw new ApiPlanError(field, reason);
}

/** Check and compile the configuration's APIs against its prompts, once at load; errors name the field as configuration errors do. */
export function planApis(apis: PromptApiConfig[], prompts: Prompt[]): Map<string, PlannedApi> {
  const forTenant = configPrompts(prompts);
  return new Map(apis.map((a, i) => [`${a.tenant}\u0000${a.path}`, planApi(a, `prompt_apis.${i}`, a.tenant, forTenant(a.tenant))]));
}

/**
 * The prompts a stored API names, as the store has them now: each stored prompt's labels and
 * the versions its steps may render (the configuration's prompts come from `config`). `labels`
 * may stand in for a prompt's labels, to ask whether a label change would still let the API
 * plan. Read once per publish, label change or cache refresh, never per call.
 */
export async function promptsNow(store: PromptStore, tenant: string, a: PublishedApi, config: PromptLookup, labels?: { name: string; labels: Map<string, SplitEntry[]> }): Promise<PromptLookup> {
  const found = new Map<string, StepPrompt>();
  for (const name of storedPromptsOf(a, config)) {
    if (!(await store.getPrompt(tenant, name))) continue;
    const ls = labels?.name === name ? labels.labels : new Map((await store.listLabels(tenant, name)).map((l) => [l.label, l.targets]));
    const wanted = new Set(stepsOf(a).filter((s) => s.prompt === name).flatMap((s) => (s.version ? [s.version] : (ls.get(s.label ?? "production") ?? []).map((e) => e.version))));
    const versions = new Map<number, PromptVersion>();
    for (const n of wanted) {
      const v = await store.getVersion(tenant, name, n);
      if (v) versions.set(n, { version: n, ...v.spec });
    }
    found.set(name, { labels: ls, version: (n) => versions.get(n) });
  }
  return (name) => config(name) ?? found.get(name);
}

/** Options of {@link createApis}. */
export interface ApisOptions {
  /** The configuration's APIs and prompts, planned once here. */
  configured: PromptApiConfig[];
  prompts: Prompt[];
  /** Renders each step: the configuration's prompts and the store's. */
  renderer: PromptRenderer;
  store: PromptStore;
  /** How long a stored API is reused before the store is asked again (≤ 1000 ms; the renderer's label cache time). */
  cacheMs: number;
}

/**
 * The published prompt APIs, the configuration's and the store's: looked up by the caller's
 * tenant and path, their input checked, and each step rendered with its variables mapped from
 * the chain so far. A stored API is read and planned once per `cacheMs` (a path without one
 * too, so unknown paths cost no query per call) and dropped at once by `changed` on the replica
 * that changed it.
 */
export function createApis(o: ApisOptions) {
  const configured = planApis(o.configured, o.prompts);
  const config = configPrompts(o.prompts);
  const stored = createTtlCache<PlannedApi | TesseraError | undefined>(o.cacheMs);
  const key = (tenant: string, path: string) => `${tenant}\u0000${path}`;

  /** A stored API planned against the prompts as they are now; one that no longer plans is an error kept like a plan. */
  async function load(tenant: string, path: string): Promise<PlannedApi | TesseraError | undefined> {
    const row = await o.store.getApi(tenant, path);
    if (!row) return undefined;
    try {
      return planApi(row.spec, "api", tenant, await promptsNow(o.store, tenant, row.spec, config(tenant)));
    } catch (err) {
      if (!(err instanceof ApiPlanError)) throw err;
      return new TesseraError("unavailable", `The prompt API ${path} cannot be served as published (${err.message}); republish it.`, { code: "api_broken" });
    }
  }

  async function find(tenant: string, path: string): Promise<PlannedApi> {
    const api = configured.get(key(tenant, path)) ?? (await stored.get(key(tenant, path), () => load(tenant, path)));
    if (api instanceof TesseraError) throw api;
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
    /** The API's steps, its input checked against its declarations (400 naming the variable), and its access rules. */
    async resolve(tenant: string, path: string, variables: JsonObject) {
      const api = await find(tenant, path);
      const input = api.input ? (bind(`API '${path}'`, api.input, variables) as JsonObject) : variables;
      return { steps: api.steps.map((s) => ({ name: s.name, prompt: s.prompt })), input, access: api.access, requiresApproval: api.requiresApproval };
    },
    /**
     * Render step `index` with its variables mapped from `context` ({ input, steps }); a label
     * that splits traffic serves the caller (`stickyKey`) the same version every time.
     */
    async renderStep(tenant: string, path: string, index: number, context: JsonObject, stickyKey = "") {
      const step = (await find(tenant, path)).steps[index];
      if (!step) throw new TesseraError("invalid_request", `Prompt API ${path} has no step ${index}.`, { code: "step_not_found", param: "step" });
      return o.renderer.render(tenant, step.prompt, step.label, step.version, variablesOf(step, context), stickyKey);
    },
    /** A stored API changed on this replica: serve it (or its absence) from the next call. */
    changed(tenant: string, path: string): void {
      stored.delete(key(tenant, path));
    },
  };
}

/** The published APIs' interface. */
export type Apis = ReturnType<typeof createApis>;
