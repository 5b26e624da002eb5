import type { PublishedApi } from "@tessera/runtime";
import type { PromptVersion } from "./registry.js";
import type { SplitEntry } from "./split.js";

export type { SplitEntry };

/**
 * The prompt store: prompts per tenant, their immutable versions (numbered 1..n, insert only),
 * labels pointing at a version or a split between versions, prompt APIs published at run
 * time, and the history of every change.
 * Postgres in the mesh, PGlite all-in-one (sharing authz's database, with tables and a
 * migration ledger of its own); both pass one contract suite (store-contract.ts).
 *
 * Conventions as in the authz store: times are Date; "not found" is `undefined`, never an
 * exception.
 */

/** A version's content, in the shape of a configuration `prompts:` version without its number. */
export type VersionSpec = Omit<PromptVersion, "version">;

export interface PromptRow {
  tenantId: string;
  name: string;
  description: string;
  /** The highest version number (0: none published yet). */
  latestVersion: number;
  createdAt: Date;
  createdBy: string;
}

export interface VersionRow {
  tenantId: string;
  name: string;
  version: number;
  spec: VersionSpec;
  /** sha256 of the spec's canonical JSON: equal content, equal digest. */
  digest: string;
  createdAt: Date;
  createdBy: string;
}

export interface LabelRow {
  tenantId: string;
  name: string;
  label: string;
  targets: SplitEntry[];
  updatedAt: Date;
  updatedBy: string;
}

/** A prompt API published at run time: a `prompt_apis:` entry of the configuration without its tenant. */
export interface ApiRow {
  tenantId: string;
  path: string;
  spec: PublishedApi;
  createdAt: Date;
  createdBy: string;
  updatedAt: Date;
  updatedBy: string;
}

export type HistoryAction = "prompt.create" | "version.publish" | "label.set" | "label.delete" | "api.publish" | "api.delete";

export interface HistoryRow {
  /** Assigned by the store, increasing (a ULID). */
  id: string;
  at: Date;
  /** "operator", "key:<id>" or "jwt:<subject>". */
  actor: string;
  tenantId: string;
  /** The prompt's name; for api.* actions the API's path. */
  name: string;
  action: HistoryAction;
  /** The version published (0 for other actions). */
  version: number;
  /** The label set or deleted ("" for other actions). */
  label: string;
  /** What the label pointed at before and after (null: nothing). */
  before: SplitEntry[] | null;
  after: SplitEntry[] | null;
  /** For api.* actions: the API's definition before and after (null: none). */
  apiBefore: PublishedApi | null;
  apiAfter: PublishedApi | null;
}

export interface PromptStore {
  /** Run `fn` in one transaction: all of its writes land, or none. Not nestable. */
  transaction<T>(fn: (tx: PromptStore) => Promise<T>): Promise<T>;

  /** undefined when the prompt exists already. */
  createPrompt(p: { tenantId: string; name: string; description: string; createdBy: string }): Promise<PromptRow | undefined>;
  getPrompt(tenantId: string, name: string): Promise<PromptRow | undefined>;
  /**
   * getPrompt, holding the row until the transaction ends: changes to one prompt then happen
   * one after another, so each history entry's "before" is what the change replaced.
   */
  lockPrompt(tenantId: string, name: string): Promise<PromptRow | undefined>;
  /** A tenant's prompts, by name. */
  listPrompts(tenantId: string): Promise<PromptRow[]>;

  /** Insert the next version (latest + 1) of an existing prompt; undefined when there is no such prompt. */
  addVersion(v: { tenantId: string; name: string; spec: VersionSpec; digest: string; createdBy: string }): Promise<VersionRow | undefined>;
  getVersion(tenantId: string, name: string, version: number): Promise<VersionRow | undefined>;
  /** Every version of a prompt, oldest first. */
  listVersions(tenantId: string, name: string): Promise<VersionRow[]>;

  /**
   * Insert or replace a label; answers it with what it pointed at before (null: it is new),
   * exact when the prompt is locked (lockPrompt) in the same transaction.
   */
  setLabel(l: { tenantId: string; name: string; label: string; targets: SplitEntry[]; updatedBy: string }): Promise<{ row: LabelRow; before: SplitEntry[] | null }>;
  /** What the deleted label pointed at; undefined when there was no such label. */
  deleteLabel(tenantId: string, name: string, label: string): Promise<SplitEntry[] | undefined>;
  /** A prompt's labels, by name. */
  listLabels(tenantId: string, name: string): Promise<LabelRow[]>;

  /** Insert or replace the API at its path; answers it with the definition it replaced (null: it is new). */
  putApi(a: { tenantId: string; spec: PublishedApi; updatedBy: string }): Promise<{ row: ApiRow; before: PublishedApi | null }>;
  getApi(tenantId: string, path: string): Promise<ApiRow | undefined>;
  /**
   * getApi, holding the row until the transaction ends, so changes to one API happen one after
   * another (undefined, and nothing held, when there is none yet).
   */
  lockApi(tenantId: string, path: string): Promise<ApiRow | undefined>;
  /** A tenant's APIs, by path. */
  listApis(tenantId: string): Promise<ApiRow[]>;
  /** The deleted API's definition; undefined when there was none. */
  deleteApi(tenantId: string, path: string): Promise<PublishedApi | undefined>;

  /** apiBefore and apiAfter default to null. */
  appendHistory(h: Omit<HistoryRow, "id" | "at" | "apiBefore" | "apiAfter"> & Partial<Pick<HistoryRow, "apiBefore" | "apiAfter">>): Promise<HistoryRow>;
  /** Newest first; name undefined: the whole tenant; beforeId: only older entries. */
  listHistory(q: { tenantId: string; name?: string | undefined; limit: number; beforeId?: string | undefined }): Promise<HistoryRow[]>;

  close(): Promise<void>;
}
