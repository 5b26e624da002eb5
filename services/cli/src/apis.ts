import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import {
  DeleteApiResponseSchema,
  GetApiResponseSchema,
  HistoryEntrySchema,
  ListApisResponseSchema,
  ListHistoryResponseSchema,
  PromptApiSchema,
  PublishApiResponseSchema,
  type PromptApi,
} from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import { stringify as stringifyYaml } from "yaml";
import { UsageError } from "./args.js";
import { output, type Command } from "./commands.js";
import { table, type Column } from "./output.js";
import { fileObject, TENANT, variableObjects } from "./prompts.js";

/**
 * An API file (YAML or JSON, the shape of one `prompt_apis:` entry of the configuration, its
 * `tenant` left to --tenant) as the API's PromptApi. The server checks it; this only turns
 * declared input names (`input: [ticket]`) into objects.
 */
function apiFile(path: string): PromptApi {
  const { tenant: _tenant, input, ...rest } = fileObject(path, "one API: path, and prompt or steps …");
  const declared = variableObjects(input);
  try {
    return fromJson(PromptApiSchema, { ...rest, ...(declared !== undefined ? { input: declared } : {}) } as JsonValue);
  } catch (err) {
    throw new UsageError(`--file ${path}: ${(err as Error).message}`);
  }
}

/** An API as the file `apis publish` takes, without what the server adds (source, authors, times). */
function apiYaml(a: PromptApi | undefined): string {
  if (!a) return "";
  const { source: _s, created_at_ms: _ca, created_by: _cb, updated_at_ms: _ua, updated_by: _ub, ...spec } = toJson(PromptApiSchema, a, { useProtoFieldName: true }) as Record<string, unknown>;
  return stringifyYaml(spec, { lineWidth: 0 }).trimEnd();
}

const WHAT: Column<PromptApi> = { title: "SERVES", value: (a) => (a.steps.length ? a.steps.map((s) => s.prompt).join(" → ") : a.prompt) };

/** The `tessera apis …` commands: prompt APIs published at run time. */
export const APIS: Command[] = [
  {
    name: "apis list",
    summary: "List a tenant's published prompt APIs: stored ones and the configuration's.",
    options: TENANT,
    async run(ctx) {
      const r = await ctx.prompts.listApis({ tenantId: ctx.opt("tenant") ?? "" }, ctx.call);
      return output(ListApisResponseSchema, r, table(PromptApiSchema, r.apis, ["path", WHAT, "source", "requires_approval", "updated_by", "updated_at_ms"]));
    },
  },
  {
    name: "apis show",
    summary: "Print a published API as YAML (the file `apis publish` takes).",
    args: ["path"],
    options: TENANT,
    async run(ctx) {
      const r = await ctx.prompts.getApi({ tenantId: ctx.opt("tenant") ?? "", path: ctx.arg("path") }, ctx.call);
      return output(GetApiResponseSchema, r, [apiYaml(r.api)]);
    },
  },
  {
    name: "apis publish",
    summary: "Publish (or replace) an API from a YAML or JSON file: a prompt_apis entry without its tenant, checked now.",
    options: { ...TENANT, file: { meta: "FILE", help: "the API: path, prompt or steps, input, access, requires_approval" } },
    required: ["file"],
    async run(ctx) {
      const r = await ctx.prompts.publishApi({ tenantId: ctx.opt("tenant") ?? "", api: apiFile(ctx.need("file")) }, ctx.call);
      return output(PublishApiResponseSchema, r, [`${r.replaced ? "replaced" : "published"} ${r.api?.path}`]);
    },
  },
  {
    name: "apis delete",
    summary: "Unpublish a stored API: its path answers 404 from then on.",
    args: ["path"],
    options: TENANT,
    async run(ctx) {
      const r = await ctx.prompts.deleteApi({ tenantId: ctx.opt("tenant") ?? "", path: ctx.arg("path") }, ctx.call);
      return output(DeleteApiResponseSchema, r, [`unpublished ${ctx.arg("path")}`]);
    },
  },
  {
    name: "apis history",
    summary: "Every publish and unpublish of an API, newest first, with what it served.",
    args: ["path"],
    options: TENANT,
    async run(ctx) {
      const r = await ctx.prompts.listHistory({ tenantId: ctx.opt("tenant") ?? "", name: ctx.arg("path"), limit: 0, beforeId: "" }, ctx.call);
      const served: Column<(typeof r.entries)[number]> = { title: "SERVES", value: (h) => (h.apiAfter ? WHAT.value(h.apiAfter) : "(unpublished)") };
      return output(ListHistoryResponseSchema, r, table(HistoryEntrySchema, r.entries, ["id", "at_ms", "actor", "action", served]));
    },
  },
];
