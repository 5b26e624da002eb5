import { ulid } from "@tessera/runtime";
import { json, migrated, rowsOf, time, type DbTime, type SqlClient } from "@tessera/sql";
import type { PublishedApi } from "@tessera/runtime";
import type { ApiRow, HistoryAction, HistoryRow, LabelRow, PromptRow, PromptStore, SplitEntry, VersionRow, VersionSpec } from "../domain/store.js";
import { PROMPT_LEDGER } from "./migrations.js";

/** The prompt store over `db` (PGlite or Postgres, in a database of its own or authz's), once its pending migrations are applied. */
export async function openMigratedPromptStore(db: SqlClient, log?: (line: string) => void): Promise<PromptStore> {
  return createSqlPromptStore(await migrated(db, PROMPT_LEDGER, log));
}

/** The prompt store over any {@link SqlClient} (PGlite or Postgres, the same SQL). */
export function createSqlPromptStore(db: SqlClient): PromptStore {
  return bindStore(db, false);
}

interface PromptDb {
  tenant_id: string;
  name: string;
  description: string;
  latest_version: number;
  created_at: DbTime;
  created_by: string;
}
interface VersionDb {
  tenant_id: string;
  name: string;
  version: number;
  spec: VersionSpec | string;
  digest: string;
  created_at: DbTime;
  created_by: string;
}
interface LabelDb {
  tenant_id: string;
  name: string;
  label: string;
  targets: SplitEntry[] | string;
  updated_at: DbTime;
  updated_by: string;
}
interface ApiDb {
  tenant_id: string;
  path: string;
  spec: PublishedApi | string;
  created_at: DbTime;
  created_by: string;
  updated_at: DbTime;
  updated_by: string;
}
interface HistoryDb {
  id: string;
  at: DbTime;
  actor: string;
  tenant_id: string;
  name: string;
  action: HistoryAction;
  version: number;
  label: string;
  label_before: SplitEntry[] | string | null;
  label_after: SplitEntry[] | string | null;
  api_before: PublishedApi | string | null;
  api_after: PublishedApi | string | null;
}

const toPrompt = (r: PromptDb): PromptRow => ({
  tenantId: r.tenant_id,
  name: r.name,
  description: r.description,
  latestVersion: r.latest_version,
  createdAt: time(r.created_at),
  createdBy: r.created_by,
});
const toVersion = (r: VersionDb): VersionRow => ({
  tenantId: r.tenant_id,
  name: r.name,
  version: r.version,
  spec: json(r.spec, {} as VersionSpec),
  digest: r.digest,
  createdAt: time(r.created_at),
  createdBy: r.created_by,
});
const toLabel = (r: LabelDb): LabelRow => ({
  tenantId: r.tenant_id,
  name: r.name,
  label: r.label,
  targets: json(r.targets, []),
  updatedAt: time(r.updated_at),
  updatedBy: r.updated_by,
});
const orNull = (v: SplitEntry[] | string | null): SplitEntry[] | null => (v === null ? null : json(v, []));
const apiOrNull = (v: PublishedApi | string | null): PublishedApi | null => (v === null ? null : json(v, {} as PublishedApi));
const toApi = (r: ApiDb): ApiRow => ({
  tenantId: r.tenant_id,
  path: r.path,
  spec: json(r.spec, {} as PublishedApi),
  createdAt: time(r.created_at),
  createdBy: r.created_by,
  updatedAt: time(r.updated_at),
  updatedBy: r.updated_by,
});
const toHistory = (r: HistoryDb): HistoryRow => ({
  id: r.id,
  at: time(r.at),
  actor: r.actor,
  tenantId: r.tenant_id,
  name: r.name,
  action: r.action,
  version: r.version,
  label: r.label,
  before: orNull(r.label_before),
  after: orNull(r.label_after),
  apiBefore: apiOrNull(r.api_before),
  apiAfter: apiOrNull(r.api_after),
});

// Column lists, so a later migration that adds a column changes no result shape by accident.
const PROMPT_COLS = "tenant_id, name, description, latest_version, created_at, created_by";
const VERSION_COLS = "tenant_id, name, version, spec, digest, created_at, created_by";
const LABEL_COLS = "tenant_id, name, label, targets, updated_at, updated_by";
const API_COLS = "tenant_id, path, spec, created_at, created_by, updated_at, updated_by";
const HISTORY_COLS = "id, at, actor, tenant_id, name, action, version, label, label_before, label_after, api_before, api_after";

/** A JSON value as a jsonb parameter (text cast, the same on pg and PGlite). */
const jsonb = (v: unknown): string | null => (v === null ? null : JSON.stringify(v));

function bindStore(db: SqlClient, inTransaction: boolean): PromptStore {
  const { one, must, all } = rowsOf(db, "prompt store");
  return {
    async transaction(fn) {
      if (inTransaction) throw new Error("prompt store: transaction() is not nestable; use the store passed to fn");
      return db.transaction((tx) => fn(bindStore(tx, true)));
    },

    createPrompt(p) {
      return one<PromptDb, PromptRow>(
        `INSERT INTO prompts (tenant_id, name, description, created_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, name) DO NOTHING RETURNING ${PROMPT_COLS}`,
        [p.tenantId, p.name, p.description, p.createdBy],
        toPrompt,
      );
    },
    getPrompt(tenantId, name) {
      return one<PromptDb, PromptRow>(`SELECT ${PROMPT_COLS} FROM prompts WHERE tenant_id = $1 AND name = $2`, [tenantId, name], toPrompt);
    },
    lockPrompt(tenantId, name) {
      return one<PromptDb, PromptRow>(`SELECT ${PROMPT_COLS} FROM prompts WHERE tenant_id = $1 AND name = $2 FOR UPDATE`, [tenantId, name], toPrompt);
    },
    listPrompts(tenantId) {
      return all<PromptDb, PromptRow>(`SELECT ${PROMPT_COLS} FROM prompts WHERE tenant_id = $1 ORDER BY name`, [tenantId], toPrompt);
    },

    addVersion(v) {
      // Taking the number and inserting in one statement: the UPDATE's row lock makes a
      // concurrent publisher of the same prompt wait, then take the next number.
      return one<VersionDb, VersionRow>(
        `WITH n AS (
           UPDATE prompts SET latest_version = latest_version + 1 WHERE tenant_id = $1 AND name = $2 RETURNING latest_version
         )
         INSERT INTO prompt_versions (tenant_id, name, version, spec, digest, created_by)
         SELECT $1, $2, n.latest_version, $3::text::jsonb, $4, $5 FROM n
         RETURNING ${VERSION_COLS}`,
        [v.tenantId, v.name, jsonb(v.spec), v.digest, v.createdBy],
        toVersion,
      );
    },
    getVersion(tenantId, name, version) {
      return one<VersionDb, VersionRow>(`SELECT ${VERSION_COLS} FROM prompt_versions WHERE tenant_id = $1 AND name = $2 AND version = $3`, [tenantId, name, version], toVersion);
    },
    listVersions(tenantId, name) {
      return all<VersionDb, VersionRow>(`SELECT ${VERSION_COLS} FROM prompt_versions WHERE tenant_id = $1 AND name = $2 ORDER BY version`, [tenantId, name], toVersion);
    },

    async setLabel(l) {
      const row = await must<LabelDb & { before: SplitEntry[] | string | null }, { row: LabelRow; before: SplitEntry[] | null }>(
        `WITH old AS (SELECT targets FROM prompt_labels WHERE tenant_id = $1 AND name = $2 AND label = $3)
         INSERT INTO prompt_labels (tenant_id, name, label, targets, updated_by) VALUES ($1, $2, $3, $4::text::jsonb, $5)
         ON CONFLICT (tenant_id, name, label) DO UPDATE SET targets = EXCLUDED.targets, updated_at = now(), updated_by = EXCLUDED.updated_by
         RETURNING ${LABEL_COLS}, (SELECT targets FROM old) AS before`,
        [l.tenantId, l.name, l.label, jsonb(l.targets), l.updatedBy],
        (r) => ({ row: toLabel(r), before: orNull(r.before) }),
      );
      return row;
    },
    async deleteLabel(tenantId, name, label) {
      const r = await one<{ targets: SplitEntry[] | string }, SplitEntry[]>(
        "DELETE FROM prompt_labels WHERE tenant_id = $1 AND name = $2 AND label = $3 RETURNING targets",
        [tenantId, name, label],
        (x) => json(x.targets, []),
      );
      return r;
    },
    listLabels(tenantId, name) {
      return all<LabelDb, LabelRow>(`SELECT ${LABEL_COLS} FROM prompt_labels WHERE tenant_id = $1 AND name = $2 ORDER BY label`, [tenantId, name], toLabel);
    },

    putApi(a) {
      return must<ApiDb & { before: PublishedApi | string | null }, { row: ApiRow; before: PublishedApi | null }>(
        `WITH old AS (SELECT spec FROM prompt_apis WHERE tenant_id = $1 AND path = $2)
         INSERT INTO prompt_apis (tenant_id, path, spec, created_by, updated_by) VALUES ($1, $2, $3::text::jsonb, $4, $4)
         ON CONFLICT (tenant_id, path) DO UPDATE SET spec = EXCLUDED.spec, updated_at = now(), updated_by = EXCLUDED.updated_by
         RETURNING ${API_COLS}, (SELECT spec FROM old) AS before`,
        [a.tenantId, a.spec.path, jsonb(a.spec), a.updatedBy],
        (r) => ({ row: toApi(r), before: apiOrNull(r.before) }),
      );
    },
    getApi(tenantId, path) {
      return one<ApiDb, ApiRow>(`SELECT ${API_COLS} FROM prompt_apis WHERE tenant_id = $1 AND path = $2`, [tenantId, path], toApi);
    },
    lockApi(tenantId, path) {
      return one<ApiDb, ApiRow>(`SELECT ${API_COLS} FROM prompt_apis WHERE tenant_id = $1 AND path = $2 FOR UPDATE`, [tenantId, path], toApi);
    },
    listApis(tenantId) {
      return all<ApiDb, ApiRow>(`SELECT ${API_COLS} FROM prompt_apis WHERE tenant_id = $1 ORDER BY path`, [tenantId], toApi);
    },
    deleteApi(tenantId, path) {
      return one<{ spec: PublishedApi | string }, PublishedApi>("DELETE FROM prompt_apis WHERE tenant_id = $1 AND path = $2 RETURNING spec", [tenantId, path], (x) =>
        json(x.spec, {} as PublishedApi),
      );
    },

    appendHistory(h) {
      const now = Date.now();
      return must<HistoryDb, HistoryRow>(
        `INSERT INTO prompt_history (id, at, actor, tenant_id, name, action, version, label, label_before, label_after, api_before, api_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::jsonb, $10::text::jsonb, $11::text::jsonb, $12::text::jsonb) RETURNING ${HISTORY_COLS}`,
        [ulid(now), new Date(now), h.actor, h.tenantId, h.name, h.action, h.version, h.label, jsonb(h.before), jsonb(h.after), jsonb(h.apiBefore ?? null), jsonb(h.apiAfter ?? null)],
        toHistory,
      );
    },
    listHistory(q) {
      if (!Number.isInteger(q.limit) || q.limit < 0) return Promise.reject(new Error(`listHistory: limit must be a non-negative integer, got ${q.limit}`));
      const params: unknown[] = [q.tenantId];
      const where = ["tenant_id = $1"];
      if (q.name !== undefined) where.push(`name = $${params.push(q.name)}`);
      if (q.beforeId !== undefined) where.push(`id < $${params.push(q.beforeId)}`);
      return all<HistoryDb, HistoryRow>(
        `SELECT ${HISTORY_COLS} FROM prompt_history WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT $${params.push(q.limit)}`,
        params,
        toHistory,
      );
    },

    async close() {
      if (inTransaction) throw new Error("prompt store: close() inside a transaction; close the store it came from");
      await db.close();
    },
  };
}
