import { create, fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { bind, TesseraError, type ServiceBinding } from "@tessera/runtime";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { PromptRegistryService, RenderResponseSchema, ResolveApiResponseSchema } from "@tessera/gen/tessera/promptregistry/v1/prompt_registry_pb";
import {
  HistoryEntrySchema,
  LabelSchema,
  PromptAdminService,
  PromptApiSchema,
  PromptSchema,
  PromptVersionSchema,
  type PromptApi as PromptApiMsg,
  type Variable as VariableMsg,
  type VersionSpec as VersionSpecMsg,
} from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import type { PublishedApi } from "@tessera/runtime";
import type { ApiView, Caller, PromptAdmin, PromptView } from "./domain/admin.js";
import type { PromptRenderer } from "./domain/renderer.js";
import type { Rendered, VariableSpec } from "./domain/registry.js";
import type { Apis } from "./domain/apis.js";
import type { HistoryRow, LabelRow, VersionRow } from "./domain/store.js";

const ROLES = { system: Role.SYSTEM, user: Role.USER, assistant: Role.ASSISTANT } as const;

function rendered(r: Rendered) {
  return create(RenderResponseSchema, {
    version: r.version,
    model: r.model,
    messages: r.messages.map((m) => ({ role: ROLES[m.role], content: m.content })),
    ...(r.maxTokens !== undefined ? { maxTokens: r.maxTokens } : {}),
    ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
    ...(r.outputSchema ? { outputSchema: r.outputSchema as JsonObject } : {}),
  });
}

/** Bind PromptRegistryService. */
export function promptRegistryService(deps: { renderer: PromptRenderer; apis: Apis }): ServiceBinding<typeof PromptRegistryService> {
  return bind(PromptRegistryService, {
    async render(req) {
      if (req.api) return rendered(await deps.apis.renderStep(req.tenantId, req.api, req.step, req.context ?? {}, req.stickyKey));
      return rendered(await deps.renderer.render(req.tenantId, req.name, req.label, req.version, req.variables ?? {}, req.stickyKey));
    },
    async resolveApi(req) {
      const plan = await deps.apis.resolve(req.tenantId, req.path, req.variables ?? {});
      return create(ResolveApiResponseSchema, { steps: plan.steps, input: plan.input, access: plan.access, requiresApproval: plan.requiresApproval });
    },
  });
}

const ms = (d: Date) => BigInt(d.getTime());

const labelMsg = (l: LabelRow) => create(LabelSchema, { name: l.label, split: l.targets, updatedAtMs: ms(l.updatedAt), updatedBy: l.updatedBy });
const promptMsg = (v: PromptView) =>
  create(PromptSchema, {
    tenantId: v.prompt.tenantId,
    name: v.prompt.name,
    description: v.prompt.description,
    latestVersion: v.prompt.latestVersion,
    labels: v.labels.map(labelMsg),
    createdAtMs: ms(v.prompt.createdAt),
    createdBy: v.prompt.createdBy,
  });
/** A declared variable as the API shows it. */
const variableMsg = (x: VariableSpec) =>
  typeof x === "string"
    ? { name: x, type: "string" }
    : {
        name: x.name,
        type: x.type,
        ...(x.default !== undefined ? { default: fromJson(ValueSchema, x.default as JsonValue) } : {}),
        ...(x.required !== undefined ? { required: x.required } : {}),
        enum: x.enum ?? [],
        description: x.description ?? "",
      };

/** A declared variable from the API, in the configuration's shape. */
const variableSpec = (v: VariableMsg) => ({
  name: v.name,
  ...(v.type ? { type: v.type } : {}),
  ...(v.default !== undefined ? { default: toJson(ValueSchema, v.default) } : {}),
  ...(v.required !== undefined ? { required: v.required } : {}),
  ...(v.enum.length ? { enum: v.enum } : {}),
  ...(v.description ? { description: v.description } : {}),
});

/** A published API as the admin API shows it (`source` and times only for what is listed or fetched). */
function apiMsg(a: PublishedApi, view?: ApiView) {
  return create(PromptApiSchema, {
    path: a.path,
    description: a.description,
    prompt: a.prompt ?? "",
    label: a.label ?? "",
    version: a.version ?? 0,
    ...(a.variables ? { variables: a.variables } : {}),
    steps: (a.steps ?? []).map((s) => ({ name: s.name, prompt: s.prompt, label: s.label ?? "", version: s.version ?? 0, ...(s.variables ? { variables: s.variables } : {}) })),
    input: a.input.map((x) => variableMsg(x as VariableSpec)),
    access: a.access,
    requiresApproval: a.requires_approval,
    source: view?.source ?? "",
    ...(view?.row ? { createdAtMs: ms(view.row.createdAt), createdBy: view.row.createdBy, updatedAtMs: ms(view.row.updatedAt), updatedBy: view.row.updatedBy } : {}),
  });
}

/** A published API from the API, in the configuration's shape, for the domain to check (answer-only fields left out). */
function apiSpecOf(m: PromptApiMsg | undefined): Record<string, unknown> {
  if (!m) throw new TesseraError("invalid_request", "api is required: the API's path and its prompt or steps.", { code: "invalid_field", param: "api" });
  const opt = (k: string, v: unknown) => (v ? { [k]: v } : {});
  return {
    path: m.path,
    ...opt("description", m.description),
    ...opt("prompt", m.prompt),
    ...opt("label", m.label),
    ...opt("version", m.version),
    ...opt("variables", m.variables),
    ...(m.steps.length ? { steps: m.steps.map((s) => ({ name: s.name, prompt: s.prompt, ...opt("label", s.label), ...opt("version", s.version), ...opt("variables", s.variables) })) } : {}),
    input: m.input.map(variableSpec),
    ...(m.access ? { access: { keys: m.access.keys, teams: m.access.teams, roles: m.access.roles } } : {}),
    requires_approval: m.requiresApproval,
  };
}

const historyMsg = (h: HistoryRow) =>
  create(HistoryEntrySchema, {
    id: h.id,
    atMs: ms(h.at),
    actor: h.actor,
    name: h.name,
    action: h.action,
    version: h.version,
    label: h.label,
    before: h.before ?? [],
    after: h.after ?? [],
    ...(h.apiBefore ? { apiBefore: apiMsg(h.apiBefore) } : {}),
    ...(h.apiAfter ? { apiAfter: apiMsg(h.apiAfter) } : {}),
  });

/** A version as the API shows it; `content: false` leaves the spec out (listings). */
function versionMsg(v: VersionRow, content = true) {
  const s = v.spec;
  return create(PromptVersionSchema, {
    version: v.version,
    createdAtMs: ms(v.createdAt),
    createdBy: v.createdBy,
    digest: v.digest,
    ...(content
      ? {
          spec: {
            model: s.model,
            messages: s.messages,
            variables: s.variables.map(variableMsg),
            ...(s.max_tokens !== undefined ? { maxTokens: s.max_tokens } : {}),
            ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
            ...(s.output_schema ? { outputSchema: s.output_schema as JsonObject } : {}),
          },
        }
      : {}),
  });
}

/** A version's content from the API, in the configuration's shape, for the domain to check. */
function specOf(s: VersionSpecMsg | undefined): Record<string, unknown> {
  if (!s) throw new TesseraError("invalid_request", "spec is required: the version's model, messages and variables.", { code: "invalid_field", param: "spec" });
  return {
    model: s.model,
    messages: s.messages.map((m) => ({ role: m.role, content: m.content })),
    variables: s.variables.map(variableSpec),
    ...(s.maxTokens !== undefined ? { max_tokens: s.maxTokens } : {}),
    ...(s.temperature !== undefined ? { temperature: s.temperature } : {}),
    ...(s.outputSchema !== undefined ? { output_schema: s.outputSchema } : {}),
  };
}

/** Dependencies of the prompt admin routes. */
export interface PromptAdminDeps {
  admin: PromptAdmin;
  /** Who the call's credential belongs to (authz decides; see adapters/caller.ts). */
  caller: (headers: Headers) => Promise<Caller>;
}

/** Bind PromptAdminService: every call first resolves the caller from its headers. */
export function promptAdminService(deps: PromptAdminDeps): ServiceBinding<typeof PromptAdminService> {
  const a = deps.admin;
  const who = (ctx: { requestHeader: Headers }) => deps.caller(ctx.requestHeader);
  return bind(PromptAdminService, {
    async createPrompt(req, ctx) {
      return { prompt: promptMsg(await a.createPrompt(await who(ctx), req)) };
    },
    async listPrompts(req, ctx) {
      return { prompts: (await a.listPrompts(await who(ctx), req.tenantId)).map(promptMsg) };
    },
    async getPrompt(req, ctx) {
      const r = await a.getPrompt(await who(ctx), req.tenantId, req.name);
      return { prompt: promptMsg(r), versions: r.versions.map((v) => versionMsg(v, false)) };
    },
    async publishVersion(req, ctx) {
      return { version: versionMsg(await a.publishVersion(await who(ctx), { tenantId: req.tenantId, name: req.name, spec: specOf(req.spec) })) };
    },
    async getVersion(req, ctx) {
      return { version: versionMsg(await a.getVersion(await who(ctx), req.tenantId, req.name, req.version)) };
    },
    async setLabel(req, ctx) {
      const r = await a.setLabel(await who(ctx), { tenantId: req.tenantId, name: req.name, label: req.label, version: req.version, split: req.split.map((e) => ({ version: e.version, weight: e.weight })) });
      return { label: labelMsg(r.row), before: r.before ?? [] };
    },
    async deleteLabel(req, ctx) {
      await a.deleteLabel(await who(ctx), req);
      return {};
    },
    async listHistory(req, ctx) {
      return { entries: (await a.listHistory(await who(ctx), req)).map(historyMsg) };
    },
    async diffVersions(req, ctx) {
      return a.diffVersions(await who(ctx), { tenantId: req.tenantId, name: req.name, from: req.fromVersion, to: req.toVersion });
    },
    async exportPrompts(req, ctx) {
      return { yaml: await a.exportPrompts(await who(ctx), req) };
    },
    async importPrompts(req, ctx) {
      return { changes: await a.importPrompts(await who(ctx), req) };
    },
    async publishApi(req, ctx) {
      const r = await a.publishApi(await who(ctx), { tenantId: req.tenantId, api: apiSpecOf(req.api) });
      return { api: apiMsg(r.view.spec, r.view), replaced: r.replaced };
    },
    async getApi(req, ctx) {
      const v = await a.getApi(await who(ctx), req.tenantId, req.path);
      return { api: apiMsg(v.spec, v) };
    },
    async listApis(req, ctx) {
      return { apis: (await a.listApis(await who(ctx), req.tenantId)).map((v) => apiMsg(v.spec, v)) };
    },
    async deleteApi(req, ctx) {
      await a.deleteApi(await who(ctx), req);
      return {};
    },
  });
}
