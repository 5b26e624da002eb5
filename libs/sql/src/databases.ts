import { existsSync } from "node:fs";
import type { SqlClient, StoreSettings } from "./client.js";
import { openPgliteClient } from "./pglite.js";
import { openPostgresClient } from "./postgres.js";

/**
 * The SQL databases one process uses, each opened once and shared by every store that names
 * it. All-in-one, authz and the prompt registry keep their tables (and migration ledgers) in
 * one PGlite: a second instance would cost another ~300 MB. The clients handed out do not
 * close on `close()`; closing the databases does.
 */
export interface SqlDatabases {
  /** false for a PGlite directory not created yet: a store may then open lazily, on its first write. */
  exists(s: StoreSettings): boolean;
  /** The database of these settings, opened on first ask. `setting` names the configuration in errors. */
  open(s: StoreSettings, setting: string): Promise<SqlClient>;
  /** Close every database opened. */
  close(): Promise<void>;
}

/** The Postgres URL of the settings: `url`, else the environment variable `url_env` names. */
export function postgresUrl(s: Extract<StoreSettings, { kind: "postgres" }>, setting: string, env: NodeJS.ProcessEnv = process.env): string {
  const url = s.url ?? (s.url_env ? env[s.url_env] : undefined);
  if (!url) throw new Error(`${setting}: set url, or url_env to an environment variable holding the Postgres URL${s.url_env ? ` (${s.url_env} is not set)` : ""}`);
  return url;
}

/** {@link SqlDatabases} for one process; `log` gets pool errors. */
export function createSqlDatabases(log?: (line: string) => void): SqlDatabases {
  const opened = new Map<string, Promise<SqlClient>>();
  return {
    exists(s) {
      return s.kind !== "pglite" || s.path === "" || existsSync(s.path);
    },
    async open(s, setting) {
      const key = s.kind === "pglite" ? `pglite:${s.path}` : `postgres:${postgresUrl(s, setting)}`;
      let db = opened.get(key);
      if (!db) {
        db =
          s.kind === "pglite"
            ? openPgliteClient(s.path, setting)
            : openPostgresClient({ url: postgresUrl(s, setting), poolSize: s.pool_size, setting, ...(log ? { log } : {}) });
        opened.set(key, db);
        db.catch(() => opened.delete(key));
      }
      const real = await db;
      return { query: (t, p) => real.query(t, p), exec: (t) => real.exec(t), transaction: (fn) => real.transaction(fn), close: async () => {} };
    },
    async close() {
      const all = [...opened.values()];
      opened.clear();
      await Promise.all(all.map(async (db) => (await db.catch(() => undefined))?.close()));
    },
  };
}
