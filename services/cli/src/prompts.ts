import { readFileSync } from "node:fs";
import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import {
  CreatePromptResponseSchema,
  DeleteLabelResponseSchema,
  DiffVersionsResponseSchema,
  ExportPromptsResponseSchema,
  GetPromptResponseSchema,
  GetVersionResponseSchema,
  HistoryEntrySchema,
  ImportPromptsResponseSchema,
  ListHistoryResponseSchema,
  ListPromptsResponseSchema,
  PromptSchema,
  PromptVersionSchema,
  PublishVersionResponseSchema,
  SetLabelResponseSchema,
  VersionSpecSchema,
  type Label,
  type Prompt,
  type SplitEntry,
} from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { list, uint32, UsageError } from "./args.js";
import { output, type Command, type CommandContext, type OptionSpec } from "./commands.js";
import { record, table, type Column } from "./output.js";

export const TENANT: Record<string, OptionSpec> = { tenant: { meta: "T", help: "the tenant (default: the token's own; the operator must give it)" } };

/** A label's target as written on the command line and shown: "3", or "3:90,4:10". */
const splitText = (s: readonly SplitEntry[]): string => (s.length === 0 ? "-" : s.length === 1 ? String(s[0]!.version) : s.map((e) => `${e.version}:${e.weight}`).join(","));

const LABELS: Column<Prompt> = { title: "LABELS", value: (p) => p.labels.map((l: Label) => `${l.name}=${splitText(l.split)}`).join(" ") || "-" };

/** A file's text, or a usage error naming it. */
export function readFile(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** A --file of YAML or JSON holding one object (`what` says which), or a usage error naming the file. */
export function fileObject(path: string, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(readFile(path, "--file"));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--file ${path} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new UsageError(`--file ${path} must hold ${what}`);
  return doc as Record<string, unknown>;
}

/** Declared variables as the configuration writes them (a bare name, or an object) as the API's Variable objects. */
export const variableObjects = (variables: unknown): unknown => (Array.isArray(variables) ? variables.map((v) => (typeof v === "string" ? { name: v } : v)) : variables);

/**
 * A version file (YAML or JSON, the shape of one `versions:` entry of the configuration, its
 * `version` number ignored) as the API's VersionSpec. The server checks the content; this only
 * turns names (`variables: [text]`) into objects.
 */
function versionFile(path: string) {
  const { version: _number, variables, ...rest } = fileObject(path, "one version: model, messages, variables …");
  const vars = variableObjects(variables);
  try {
    return fromJson(VersionSpecSchema, { ...rest, ...(vars !== undefined ? { variables: vars } : {}) } as JsonValue);
  } catch (err) {
    throw new UsageError(`--file ${path}: ${(err as Error).message}`);
  }
}

/** --version N or --split 3:90,4:10 (exactly one). */
function targetOf(ctx: CommandContext): { version: number; split: { version: number; weight: number }[] } {
  const [v, s] = [ctx.opt("version"), ctx.opt("split")];
  if ((v === undefined) === (s === undefined)) throw new UsageError("give exactly one of --version and --split");
  if (v !== undefined) return { version: uint32(v, "version"), split: [] };
  const split = list(s).map((part) => {
    const m = /^(\d+):(\d+)$/.exec(part);
    if (!m) throw new UsageError(`--split takes version:weight pairs like 3:90,4:10, not '${part}'`);
    return { version: uint32(m[1]!, "split"), weight: uint32(m[2]!, "split") };
  });
  return { version: 0, split };
}

/** The `tessera prompts …` commands. */
export const PROMPTS: Command[] = [
  {
    name: "prompts list",
    summary: "List a tenant's stored prompts with their labels.",
    options: TENANT,
    async run(ctx) {
      const r = await ctx.prompts.listPrompts({ tenantId: ctx.opt("tenant") ?? "" }, ctx.call);
      return output(ListPromptsResponseSchema, r, table(PromptSchema, r.prompts, ["name", "latest_version", LABELS, "description"]));
    },
  },
  {
    name: "prompts create",
    summary: "Create an empty prompt (publish creates one too).",
    args: ["name"],
    options: { ...TENANT, description: { meta: "TEXT", help: "what it is for" } },
    async run(ctx) {
      const r = await ctx.prompts.createPrompt({ tenantId: ctx.opt("tenant") ?? "", name: ctx.arg("name"), description: ctx.opt("description") ?? "" }, ctx.call);
      return output(CreatePromptResponseSchema, r, record(PromptSchema, r.prompt));
    },
  },
  {
    name: "prompts show",
    summary: "Show a prompt: its labels and versions.",
    args: ["name"],
    options: TENANT,
    async run(ctx) {
      const r = await ctx.prompts.getPrompt({ tenantId: ctx.opt("tenant") ?? "", name: ctx.arg("name") }, ctx.call);
      const labels = (r.prompt?.labels ?? []).map((l) => `label ${l.name} → ${splitText(l.split)} (by ${l.updatedBy})`);
      return output(GetPromptResponseSchema, r, [...record(PromptSchema, r.prompt), "", ...labels, ...(labels.length ? [""] : []), ...table(PromptVersionSchema, r.versions, ["version", "created_at_ms", "created_by", "digest"])]);
    },
  },
  {
    name: "prompts publish",
    summary: "Publish a new version from a YAML or JSON file (model, messages, variables …), checked now.",
    args: ["name"],
    options: { ...TENANT, file: { meta: "FILE", help: "the version: one `versions:` entry of the configuration's shape" } },
    required: ["file"],
    async run(ctx) {
      const r = await ctx.prompts.publishVersion({ tenantId: ctx.opt("tenant") ?? "", name: ctx.arg("name"), spec: versionFile(ctx.need("file")) }, ctx.call);
      return output(PublishVersionResponseSchema, r, [`published ${ctx.arg("name")} version ${r.version?.version}`, ...record(PromptVersionSchema, r.version)]);
    },
  },
  {
    name: "prompts version",
    summary: "Print one version as YAML.",
    args: ["name", "version"],
    options: TENANT,
    async run(ctx) {
      const r = await ctx.prompts.getVersion({ tenantId: ctx.opt("tenant") ?? "", name: ctx.arg("name"), version: uint32(ctx.arg("version"), "version") }, ctx.call);
      const spec = r.version?.spec ? toJson(VersionSpecSchema, r.version.spec, { useProtoFieldName: true }) : {};
      return output(GetVersionResponseSchema, r, [stringifyYaml({ version: r.version?.version, ...(spec as object) }, { lineWidth: 0 }).trimEnd()]);
    },
  },
  {
    name: "prompts label",
    summary: "Point a label at a version (--version 3) or split it (--split 3:90,4:10); moving it back is the rollback.",
    args: ["name", "label"],
    options: { ...TENANT, version: { meta: "N", help: "the version" }, split: { meta: "V:W,…", help: "versions and weights, e.g. 3:90,4:10 (a canary)" } },
    async run(ctx) {
      const r = await ctx.prompts.setLabel({ tenantId: ctx.opt("tenant") ?? "", name: ctx.arg("name"), label: ctx.arg("label"), ...targetOf(ctx) }, ctx.call);
      return output(SetLabelResponseSchema, r, [`${ctx.arg("name")} ${ctx.arg("label")}: ${splitText(r.before)} → ${splitText(r.label?.split ?? [])}`]);
    },
  },
  {
    name: "prompts unlabel",
    summary: "Remove a label.",
    args: ["name", "label"],
    options: TENANT,
    async run(ctx) {
      const r = await ctx.prompts.deleteLabel({ tenantId: ctx.opt("tenant") ?? "", name: ctx.arg("name"), label: ctx.arg("label") }, ctx.call);
      return output(DeleteLabelResponseSchema, r, [`removed label ${ctx.arg("label")} of ${ctx.arg("name")}`]);
    },
  },
  {
    name: "prompts history",
    summary: "Show every change, newest first (one prompt with --prompt).",
    options: { ...TENANT, prompt: { meta: "NAME", help: "only this prompt" }, limit: { meta: "N", help: "at most this many entries (default 100)" }, before: { meta: "ID", help: "only entries older than this one" } },
    async run(ctx) {
      const limit = ctx.opt("limit");
      const r = await ctx.prompts.listHistory({ tenantId: ctx.opt("tenant") ?? "", name: ctx.opt("prompt") ?? "", limit: limit === undefined ? 0 : uint32(limit, "limit"), beforeId: ctx.opt("before") ?? "" }, ctx.call);
      const change: Column<(typeof r.entries)[number]> = { title: "CHANGE", value: (h) => (h.action === "version.publish" ? `v${h.version}` : h.label ? `${h.label}: ${splitText(h.before)} → ${splitText(h.after)}` : "-") };
      return output(ListHistoryResponseSchema, r, table(HistoryEntrySchema, r.entries, ["id", "at_ms", "actor", "name", "action", change]));
    },
  },
  {
    name: "prompts diff",
    summary: "What changed between two versions: fields, and a unified diff of each message.",
    args: ["name", "from", "to"],
    options: TENANT,
    async run(ctx) {
      const r = await ctx.prompts.diffVersions({ tenantId: ctx.opt("tenant") ?? "", name: ctx.arg("name"), fromVersion: uint32(ctx.arg("from"), "from"), toVersion: uint32(ctx.arg("to"), "to") }, ctx.call);
      const fields = r.fields.map((f) => `${f.field}: ${f.before || "(none)"} → ${f.after || "(none)"}`);
      return output(DiffVersionsResponseSchema, r, fields.length || r.unified ? [...fields, ...(r.unified ? [r.unified.trimEnd()] : [])] : ["(no differences)"]);
    },
  },
  {
    name: "prompts export",
    summary: "Print the tenant's prompts as YAML (every version, every label), for review in git.",
    options: { ...TENANT, names: { meta: "P1,P2", help: "only these prompts" } },
    async run(ctx) {
      const r = await ctx.prompts.exportPrompts({ tenantId: ctx.opt("tenant") ?? "", names: list(ctx.opt("names")) }, ctx.call);
      return output(ExportPromptsResponseSchema, r, [r.yaml.trimEnd()]);
    },
  },
  {
    name: "prompts import",
    summary: "Apply an export file: new versions published, labels moved as it says; applied twice, nothing changes.",
    args: ["file"],
    options: TENANT,
    async run(ctx) {
      const r = await ctx.prompts.importPrompts({ tenantId: ctx.opt("tenant") ?? "", yaml: readFile(ctx.arg("file"), "file") }, ctx.call);
      const lines = r.changes.map((c) => `${c.name}: ${c.action}${c.version ? ` v${c.version}` : ""}${c.label ? ` ${c.label}` : ""}`);
      return output(ImportPromptsResponseSchema, r, lines.length ? lines : ["nothing to change: the file is applied already"]);
    },
  },
];
