import { createTwoFilesPatch } from "diff";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { z } from "zod";
import { PromptConfigSchema, PublishedApiSchema, TesseraError, type PromptApiConfig, type PublishedApi } from "@tessera/runtime";
import { ApiPlanError, planApi, promptsNow, storedPromptsOf, type PromptLookup } from "./apis.js";
import { checkSpec, canonicalJson, type CheckedSpec } from "./spec.js";
import { splitProblem, type SplitEntry } from "./split.js";
import type { ApiRow, HistoryRow, LabelRow, PromptRow, PromptStore, VersionRow, VersionSpec } from "./store.js";

/** Who is calling, as authz resolved their credential. */
export interface Caller {
  /** The operator's bootstrap token: every tenant. */
  operator: boolean;
  tenantId: string;
  roles: string[];
  /** For the history: "operator", "key:<id>" or "jwt:<subject>". */
  actor: string;
}

export interface PromptAdminDeps {
  store: PromptStore;
  /** Models the gateway serves: a version must name one. */
  models: ReadonlySet<string>;
  /** Whether the configuration file has this prompt for the tenant: stored prompts may not reuse its name. */
  inConfig: (tenantId: string, name: string) => boolean;
  /** Called after every change of a prompt, so this replica serves it at once. */
  onChange: (tenantId: string, name: string) => void;
  /** The configuration's published APIs: read only here, and their paths not for stored APIs (default none). */
  configApis?: readonly PromptApiConfig[];
  /** The configuration's prompts as a tenant's APIs see them (default none). */
  configPrompts?: (tenantId: string) => PromptLookup;
  /** Called after every change of a stored API, so this replica serves it at once. */
  onApiChange?: (tenantId: string, path: string) => void;
}

/** A published API as the admin API shows it: stored, or of the configuration file (read only). */
export interface ApiView {
  spec: PublishedApi;
  source: "store" | "config";
  /** Stored APIs only. */
  row?: ApiRow;
}

/** A prompt with its labels. */
export interface PromptView {
  prompt: PromptRow;
  labels: LabelRow[];
}

/** What differs between two versions. */
export interface VersionDiff {
  fields: { field: string; before: string; after: string }[];
  unified: string;
}

/** One change an import made. */
export interface ImportChange {
  name: string;
  action: "prompt.create" | "version.publish" | "label.set";
  version: number;
  label: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const WRITERS = ["admin", "developer"];
const READERS = ["admin", "developer", "viewer"];
/** The weight a label on a single version is stored with (any weight would do). */
const WHOLE = 100;

const invalid = (param: string, message: string, code = "invalid_field") => new TesseraError("invalid_request", message, { code, param });

function checkName(param: string, v: string): string {
  if (!NAME.test(v)) throw invalid(param, `${param} '${v.slice(0, 64)}' must be 1-128 letters, digits, '.', '-' or '_', starting with a letter or digit.`);
  return v;
}

function checkLabel(param: string, v: string): string {
  if (!LABEL.test(v)) throw invalid(param, `${param} '${v.slice(0, 64)}' must be 1-64 letters, digits, '.', '-' or '_', starting with a letter or digit.`);
  return v;
}

const notFound = (name: string) => new TesseraError("not_found", `Prompt '${name}' does not exist.`, { code: "prompt_not_found", param: "name" });

/** An import file: a `prompts:` list, or the bare list. */
const ImportSchema = z.union([z.object({ prompts: z.array(PromptConfigSchema) }).strict(), z.array(PromptConfigSchema)]);

/** A label target as a stored split. */
const toSplit = (t: number | SplitEntry[]): SplitEntry[] => (typeof t === "number" ? [{ version: t, weight: WHOLE }] : t.map((e) => ({ version: e.version, weight: e.weight })));
/** A stored split as the export file writes it: a bare number when it is one version. */
const fromSplit = (s: SplitEntry[]): number | SplitEntry[] => (s.length === 1 ? s[0]!.version : s);

/** A field's value as JSON for a diff ("" when absent). */
const shown = (v: unknown): string => (v === undefined ? "" : canonicalJson(v));

/**
 * The prompt admin API's domain: every operation checks the caller's rights (operator: every
 * tenant; a tenant's admins and developers write, viewers read), validates and compiles what
 * it is given before anything is stored, writes in one transaction with its history entry, and
 * tells the renderer which prompt changed.
 */
export function createPromptAdmin(deps: PromptAdminDeps) {
  const { store } = deps;
  const configApis = deps.configApis ?? [];
  const configPrompts = deps.configPrompts ?? (() => () => undefined);
  const onApiChange = deps.onApiChange ?? (() => undefined);

  /** The tenant acted on (empty: the caller's own), if the caller may read (or write) it. */
  function tenantFor(c: Caller, tenantId: string, write: boolean): string {
    const t = tenantId || c.tenantId;
    if (!t) throw invalid("tenant_id", "tenant_id is required: the operator acts on a tenant it names.");
    if (c.operator) return t;
    if (t !== c.tenantId) throw new TesseraError("permission_denied", `You may only act within your own tenant ('${c.tenantId}').`, { code: "other_tenant" });
    const allowed = write ? WRITERS : READERS;
    if (!c.roles.some((r) => allowed.includes(r)))
      throw new TesseraError("permission_denied", `This needs the ${allowed.join(" or ")} role; yours: ${c.roles.join(", ") || "none"}.`, { code: "role_not_allowed" });
    return t;
  }

  function notConfigured(tenantId: string, name: string, param: string): void {
    if (deps.inConfig(tenantId, name))
      throw new TesseraError("conflict", `Prompt '${name}' is defined in the configuration file for this tenant; a stored prompt may not reuse its name.`, { code: "prompt_in_config", param });
  }

  /** Run a change of one prompt in a transaction, then tell the renderer. */
  async function change<T>(tenantId: string, names: readonly string[], fn: (tx: PromptStore) => Promise<T>): Promise<T> {
    const out = await store.transaction(fn);
    for (const n of names) deps.onChange(tenantId, n);
    return out;
  }

  /** The locked prompt, or a 404. */
  async function locked(tx: PromptStore, tenantId: string, name: string): Promise<PromptRow> {
    const p = await tx.lockPrompt(tenantId, name);
    if (!p) throw notFound(name);
    return p;
  }

  /** The locked prompt, created (with its history entry) when it does not exist yet. */
  async function lockedOrCreated(tx: PromptStore, c: Caller, tenantId: string, name: string): Promise<{ p: PromptRow; created: boolean }> {
    const existing = await tx.lockPrompt(tenantId, name);
    if (existing) return { p: existing, created: false };
    const made = await tx.createPrompt({ tenantId, name, description: "", createdBy: c.actor });
    // Another caller created it meanwhile: its row, now committed, is locked here instead.
    if (!made) return { p: await locked(tx, tenantId, name), created: false };
    await history(tx, c, tenantId, name, "prompt.create");
    return { p: made, created: true };
  }

  function history(tx: PromptStore, c: Caller, tenantId: string, name: string, action: HistoryRow["action"], more: Partial<Pick<HistoryRow, "version" | "label" | "before" | "after" | "apiBefore" | "apiAfter">> = {}) {
    return tx.appendHistory({ actor: c.actor, tenantId, name, action, version: more.version ?? 0, label: more.label ?? "", before: more.before ?? null, after: more.after ?? null, apiBefore: more.apiBefore ?? null, apiAfter: more.apiAfter ?? null });
  }

  /** The configuration's API at this path for the tenant, if any. */
  const configApi = (tenantId: string, path: string) => configApis.find((a) => a.tenant === tenantId && a.path === path);

  /**
   * Refuse a label change (split null: deleting it) that would leave a stored API of the
   * tenant unable to plan, e.g. a step mapping a variable the new version does not declare:
   * the API would then fail at call time. 409 naming the API and why.
   */
  async function apisStillPlan(tx: PromptStore, tenantId: string, prompt: string, label: string, split: SplitEntry[] | null): Promise<void> {
    const config = configPrompts(tenantId);
    for (const a of await tx.listApis(tenantId)) {
      if (!storedPromptsOf(a.spec, config).includes(prompt)) continue;
      const labels = new Map((await tx.listLabels(tenantId, prompt)).map((l) => [l.label, l.targets]));
      if (split) labels.set(label, split);
      else labels.delete(label);
      try {
        planApi(a.spec, "api", tenantId, await promptsNow(tx, tenantId, a.spec, config, { name: prompt, labels }));
      } catch (err) {
        if (!(err instanceof ApiPlanError)) throw err;
        const what = split ? `Moving label '${label}' of prompt '${prompt}' to ${split.map((e) => `version ${e.version}`).join(" and ")}` : `Deleting label '${label}' of prompt '${prompt}'`;
        throw new TesseraError("conflict", `${what} would break the published API ${a.path} (${err.message}); change or unpublish the API first.`, { code: "api_depends_on_label", param: "label" });
      }
    }
  }

  /** A published API as given, in the configuration's shape: 400 naming the field when it is not one. */
  function parseApi(raw: unknown): PublishedApi {
    const parsed = PublishedApiSchema.safeParse(raw);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    const param = ["api", ...issue.path.map(String)].join(".");
    throw invalid(param, `${param}: ${issue.message}`, "invalid_api");
  }

  async function publish(tx: PromptStore, c: Caller, tenantId: string, name: string, checked: CheckedSpec): Promise<VersionRow> {
    const v = (await tx.addVersion({ tenantId, name, spec: checked.spec, digest: checked.digest, createdBy: c.actor }))!;
    await history(tx, c, tenantId, name, "version.publish", { version: v.version });
    return v;
  }

  async function label(tx: PromptStore, c: Caller, p: PromptRow, name: string, split: SplitEntry[], param: string): Promise<{ row: LabelRow; before: SplitEntry[] | null }> {
    const problem = splitProblem(split, (n) => n <= p.latestVersion);
    if (problem) throw invalid(param, `Label '${name}' of prompt '${p.name}': ${problem}${p.latestVersion ? ` (versions: 1-${p.latestVersion})` : " (it has no versions yet)"}.`, "invalid_label");
    await apisStillPlan(tx, p.tenantId, p.name, name, split);
    const set = await tx.setLabel({ tenantId: p.tenantId, name: p.name, label: name, targets: split, updatedBy: c.actor });
    await history(tx, c, p.tenantId, p.name, "label.set", { label: name, before: set.before, after: split });
    return set;
  }

  async function version(tenantId: string, name: string, n: number): Promise<VersionRow> {
    const v = await store.getVersion(tenantId, name, n);
    if (v) return v;
    if (!(await store.getPrompt(tenantId, name))) throw notFound(name);
    throw new TesseraError("not_found", `Prompt '${name}' has no version ${n}.`, { code: "version_not_found", param: "version" });
  }

  return {
    async createPrompt(c: Caller, r: { tenantId: string; name: string; description: string }): Promise<PromptView> {
      const tenantId = tenantFor(c, r.tenantId, true);
      const name = checkName("name", r.name);
      notConfigured(tenantId, name, "name");
      const prompt = await change(tenantId, [name], async (tx) => {
        const p = await tx.createPrompt({ tenantId, name, description: r.description, createdBy: c.actor });
        if (!p) throw new TesseraError("conflict", `Prompt '${name}' exists already.`, { code: "already_exists", param: "name" });
        await history(tx, c, tenantId, name, "prompt.create");
        return p;
      });
      return { prompt, labels: [] };
    },

    async listPrompts(c: Caller, tenantId: string): Promise<PromptView[]> {
      const t = tenantFor(c, tenantId, false);
      const prompts = await store.listPrompts(t);
      return Promise.all(prompts.map(async (prompt) => ({ prompt, labels: await store.listLabels(t, prompt.name) })));
    },

    async getPrompt(c: Caller, tenantId: string, name: string): Promise<PromptView & { versions: VersionRow[] }> {
      const t = tenantFor(c, tenantId, false);
      const prompt = await store.getPrompt(t, name);
      if (!prompt) throw notFound(name);
      const [labels, versions] = await Promise.all([store.listLabels(t, name), store.listVersions(t, name)]);
      return { prompt, labels, versions };
    },

    async publishVersion(c: Caller, r: { tenantId: string; name: string; spec: unknown }): Promise<VersionRow> {
      const tenantId = tenantFor(c, r.tenantId, true);
      const name = checkName("name", r.name);
      notConfigured(tenantId, name, "name");
      const checked = checkSpec(r.spec, "spec", deps.models);
      return change(tenantId, [name], async (tx) => {
        await lockedOrCreated(tx, c, tenantId, name);
        return publish(tx, c, tenantId, name, checked);
      });
    },

    async getVersion(c: Caller, tenantId: string, name: string, n: number): Promise<VersionRow> {
      return version(tenantFor(c, tenantId, false), name, n);
    },

    async setLabel(c: Caller, r: { tenantId: string; name: string; label: string; version: number; split: SplitEntry[] }) {
      const tenantId = tenantFor(c, r.tenantId, true);
      const name = checkLabel("label", r.label);
      if (r.version && r.split.length > 0) throw invalid("split", "Give a version or a split, not both.");
      const split = r.version ? toSplit(r.version) : r.split;
      return change(tenantId, [r.name], async (tx) => label(tx, c, await locked(tx, tenantId, r.name), name, split, r.version ? "version" : "split"));
    },

    async deleteLabel(c: Caller, r: { tenantId: string; name: string; label: string }): Promise<void> {
      const tenantId = tenantFor(c, r.tenantId, true);
      await change(tenantId, [r.name], async (tx) => {
        await locked(tx, tenantId, r.name);
        await apisStillPlan(tx, tenantId, r.name, r.label, null);
        const before = await tx.deleteLabel(tenantId, r.name, r.label);
        if (!before) throw new TesseraError("not_found", `Prompt '${r.name}' has no label '${r.label}'.`, { code: "label_not_found", param: "label" });
        await history(tx, c, tenantId, r.name, "label.delete", { label: r.label, before });
      });
    },

    async listHistory(c: Caller, q: { tenantId: string; name: string; limit: number; beforeId: string }): Promise<HistoryRow[]> {
      const tenantId = tenantFor(c, q.tenantId, false);
      if (q.limit > 1000) throw invalid("limit", "limit is at most 1000.");
      // An API's history (its path as the name) outlives the API; a prompt's needs the prompt.
      if (q.name && !q.name.startsWith("/") && !(await store.getPrompt(tenantId, q.name))) throw notFound(q.name);
      return store.listHistory({ tenantId, name: q.name || undefined, limit: q.limit || 100, beforeId: q.beforeId || undefined });
    },

    async diffVersions(c: Caller, r: { tenantId: string; name: string; from: number; to: number }): Promise<VersionDiff> {
      const tenantId = tenantFor(c, r.tenantId, false);
      if (!r.from) throw invalid("from_version", "from_version is required.");
      if (!r.to) throw invalid("to_version", "to_version is required.");
      const [a, b] = await Promise.all([version(tenantId, r.name, r.from), version(tenantId, r.name, r.to)]);
      return diff(a, b);
    },

    async exportPrompts(c: Caller, r: { tenantId: string; names: string[] }): Promise<string> {
      const tenantId = tenantFor(c, r.tenantId, false);
      const prompts = r.names.length ? await Promise.all(r.names.map(async (n) => (await store.getPrompt(tenantId, n)) ?? Promise.reject(notFound(n)))) : await store.listPrompts(tenantId);
      const entries = await Promise.all(
        prompts.map(async (p) => {
          const [versions, labels] = await Promise.all([store.listVersions(tenantId, p.name), store.listLabels(tenantId, p.name)]);
          return {
            name: p.name,
            ...(p.description ? { description: p.description } : {}),
            versions: versions.map((v) => ({ version: v.version, ...v.spec })),
            labels: Object.fromEntries(labels.map((l) => [l.label, fromSplit(l.targets)])),
          };
        }),
      );
      return stringifyYaml({ prompts: entries }, { lineWidth: 0 });
    },

    /**
     * Publish an API at its path (replacing the stored one there), checked as the
     * configuration's APIs are: its steps may name stored prompts and the configuration's. The
     * stored prompts it names are locked meanwhile, so a label cannot move under the check.
     */
    async publishApi(c: Caller, r: { tenantId: string; api: unknown }): Promise<{ view: ApiView; replaced: boolean }> {
      const tenantId = tenantFor(c, r.tenantId, true);
      const spec = parseApi(r.api);
      if (configApi(tenantId, spec.path))
        throw new TesseraError("conflict", `The prompt API ${spec.path} is defined in the configuration file for this tenant; a stored API may not take its path.`, { code: "api_in_config", param: "api.path" });
      const config = configPrompts(tenantId);
      const out = await store.transaction(async (tx) => {
        for (const name of storedPromptsOf(spec, config)) await tx.lockPrompt(tenantId, name);
        await tx.lockApi(tenantId, spec.path);
        try {
          planApi(spec, "api", tenantId, await promptsNow(tx, tenantId, spec, config));
        } catch (err) {
          if (err instanceof ApiPlanError) throw invalid(err.field, err.message, "invalid_api");
          throw err;
        }
        const put = await tx.putApi({ tenantId, spec, updatedBy: c.actor });
        await history(tx, c, tenantId, spec.path, "api.publish", { apiBefore: put.before, apiAfter: spec });
        return put;
      });
      onApiChange(tenantId, spec.path);
      return { view: { spec, source: "store", row: out.row }, replaced: out.before !== null };
    },

    async getApi(c: Caller, tenantId: string, path: string): Promise<ApiView> {
      const t = tenantFor(c, tenantId, false);
      const cfg = configApi(t, path);
      if (cfg) return { spec: cfg, source: "config" };
      const row = await store.getApi(t, path);
      if (!row) throw new TesseraError("not_found", `There is no prompt API at ${path} for tenant '${t}'.`, { code: "api_not_found", param: "path" });
      return { spec: row.spec, source: "store", row };
    },

    /** The tenant's APIs, the configuration's and the store's, by path. */
    async listApis(c: Caller, tenantId: string): Promise<ApiView[]> {
      const t = tenantFor(c, tenantId, false);
      const views: ApiView[] = [
        ...configApis.filter((a) => a.tenant === t).map((spec): ApiView => ({ spec, source: "config" })),
        ...(await store.listApis(t)).map((row): ApiView => ({ spec: row.spec, source: "store", row })),
      ];
      return views.sort((a, b) => (a.spec.path < b.spec.path ? -1 : a.spec.path > b.spec.path ? 1 : 0));
    },

    /** Unpublish a stored API: its path answers 404 from the next call. */
    async deleteApi(c: Caller, r: { tenantId: string; path: string }): Promise<void> {
      const tenantId = tenantFor(c, r.tenantId, true);
      if (configApi(tenantId, r.path))
        throw new TesseraError("conflict", `The prompt API ${r.path} is defined in the configuration file; remove it there.`, { code: "api_in_config", param: "path" });
      await store.transaction(async (tx) => {
        const before = await tx.deleteApi(tenantId, r.path);
        if (!before) throw new TesseraError("not_found", `There is no prompt API at ${r.path} for tenant '${tenantId}'.`, { code: "api_not_found", param: "path" });
        await history(tx, c, tenantId, r.path, "api.delete", { apiBefore: before });
      });
      onApiChange(tenantId, r.path);
    },

    async importPrompts(c: Caller, r: { tenantId: string; yaml: string }): Promise<ImportChange[]> {
      const tenantId = tenantFor(c, r.tenantId, true);
      const prompts = parseImport(r.yaml, tenantId);
      // Everything is checked before anything is written.
      const plans = prompts.map((p, i) => {
        const at = `prompts.${i}`;
        checkName(`${at}.name`, p.name);
        notConfigured(tenantId, p.name, `${at}.name`);
        const versions = [...p.versions].sort((x, y) => x.version - y.version);
        versions.forEach((v, j) => {
          if (j > 0 && v.version === versions[j - 1]!.version) throw invalid(`${at}.versions`, `${at}: version ${v.version} is in the file twice.`);
        });
        const checked = versions.map((v) => {
          const { version: n, ...content } = v;
          const where = `${at}.versions.${p.versions.indexOf(v)}`;
          return { n, at: where, ...checkSpec(content, where, deps.models) };
        });
        const labels = Object.entries(p.labels).map(([l, t]) => ({ label: checkLabel(`${at}.labels`, l), split: toSplit(t), at: `${at}.labels.${l}` }));
        return { name: p.name, checked, labels };
      });
      const changes: ImportChange[] = [];
      await change(
        tenantId,
        plans.map((p) => p.name),
        async (tx) => {
          for (const plan of plans) {
            const { name } = plan;
            const got = await lockedOrCreated(tx, c, tenantId, name);
            let p = got.p;
            if (got.created) changes.push({ name, action: "prompt.create", version: 0, label: "" });
            const stored = new Map((await tx.listVersions(tenantId, name)).map((v) => [v.version, v]));
            for (const v of plan.checked) {
              const have = stored.get(v.n);
              if (have) {
                if (have.digest !== v.digest)
                  throw invalid(`${v.at}`, `${v.at}: version ${v.n} of '${name}' differs from the stored version ${v.n}; versions are immutable, so add the change as version ${p.latestVersion + 1}.`, "version_differs");
                continue;
              }
              if (v.n !== p.latestVersion + 1)
                throw invalid(`${v.at}.version`, `${v.at}.version: '${name}' has versions up to ${p.latestVersion}, so the next one is ${p.latestVersion + 1}, not ${v.n}.`, "version_gap");
              await publish(tx, c, tenantId, name, v);
              p = { ...p, latestVersion: v.n };
              changes.push({ name, action: "version.publish", version: v.n, label: "" });
            }
            const current = new Map((await tx.listLabels(tenantId, name)).map((l) => [l.label, canonicalJson(l.targets)]));
            for (const l of plan.labels) {
              if (current.get(l.label) === canonicalJson(l.split)) continue;
              await label(tx, c, p, l.label, l.split, l.at);
              changes.push({ name, action: "label.set", version: 0, label: l.label });
            }
          }
        },
      );
      return changes;
    },
  };
}

/** The prompts of an import file, checked against the configuration's `prompts:` schema. */
function parseImport(text: string, tenantId: string): z.infer<typeof PromptConfigSchema>[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw invalid("yaml", `The file is not valid YAML: ${(err as Error).message.split("\n")[0]}`, "invalid_yaml");
  }
  const parsed = ImportSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues.find((i) => i.code === "invalid_union")?.errors?.[0]?.[0] ?? parsed.error.issues[0]!;
    const path = ["prompts", ...issue.path.map(String).filter((p) => p !== "prompts")].join(".");
    throw invalid(path, `${path}: ${issue.message}`, "invalid_yaml");
  }
  const prompts = Array.isArray(parsed.data) ? parsed.data : parsed.data.prompts;
  prompts.forEach((p, i) => {
    if (p.tenant !== "*" && p.tenant !== tenantId) throw invalid(`prompts.${i}.tenant`, `prompts.${i}.tenant: the file is for tenant '${p.tenant}', not '${tenantId}'.`, "other_tenant");
  });
  const names = new Set<string>();
  prompts.forEach((p, i) => {
    if (names.has(p.name)) throw invalid(`prompts.${i}.name`, `prompts.${i}.name: '${p.name}' is in the file twice.`, "invalid_yaml");
    names.add(p.name);
  });
  return prompts;
}

/** Field changes and a unified diff of the messages' templates between two versions. */
function diff(a: VersionRow, b: VersionRow): VersionDiff {
  const fields: VersionDiff["fields"] = [];
  const field = (name: string, x: unknown, y: unknown) => {
    if (shown(x) !== shown(y)) fields.push({ field: name, before: shown(x), after: shown(y) });
  };
  const sa: VersionSpec = a.spec;
  const sb: VersionSpec = b.spec;
  field("model", sa.model, sb.model);
  field("max_tokens", sa.max_tokens, sb.max_tokens);
  field("temperature", sa.temperature, sb.temperature);
  field("variables", sa.variables, sb.variables);
  field("output_schema", sa.output_schema, sb.output_schema);
  const n = Math.max(sa.messages.length, sb.messages.length);
  let unified = "";
  for (let i = 0; i < n; i++) {
    const [x, y] = [sa.messages[i], sb.messages[i]];
    field(`messages.${i}.role`, x?.role, y?.role);
    const [tx, ty] = [x ? `${x.content}\n` : "", y ? `${y.content}\n` : ""];
    if (tx !== ty) unified += createTwoFilesPatch(`v${a.version}/messages/${i}`, `v${b.version}/messages/${i}`, tx, ty, x?.role ?? "(none)", y?.role ?? "(none)");
  }
  return { fields, unified };
}

export type PromptAdmin = ReturnType<typeof createPromptAdmin>;
