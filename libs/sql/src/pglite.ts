import { mkdir } from "node:fs/promises";
import type { PGlite, Transaction } from "@electric-sql/pglite";
import type { SqlClient } from "./client.js";

/**
 * A {@link SqlClient} over a new PGlite database (Postgres compiled to WASM, in process) at
 * `path` ("" in memory, lost on close); the directory is created if missing. `setting` names
 * the configuration to check in errors (e.g. "authz.store"). PGlite is loaded here, on first
 * use, so processes that use Postgres never load the WASM.
 *
 * PGlite has one connection. Its `transaction` holds an internal lock that every top-level
 * `query`/`exec` also takes, so a query issued outside a running transaction waits until the
 * transaction ends instead of running inside it. The other side of that lock: code inside
 * `transaction(fn)` must use the client passed to `fn`, as the store does.
 */
export async function openPgliteClient(path: string, setting: string): Promise<SqlClient> {
  if (path !== "") {
    try {
      await mkdir(path, { recursive: true });
    } catch (err) {
      throw new Error(`cannot create the PGlite data directory ${path} (${(err as Error).message}); check ${setting}.path`, { cause: err });
    }
  }
  const { PGlite } = await import("@electric-sql/pglite");
  let pg: PGlite;
  try {
    pg = await PGlite.create(path === "" ? {} : { dataDir: path });
  } catch (err) {
    throw new Error(`cannot open the PGlite database in ${path || "memory"} (${(err as Error).message}); check ${setting}.path`, { cause: err });
  }
  return rootClient(pg);
}

function rootClient(pg: PGlite): SqlClient {
  return {
    async query<R>(text: string, params: unknown[] = []) {
      const res = await pg.query<R>(text, params);
      return { rows: res.rows };
    },
    async exec(text) {
      await pg.exec(text);
    },
    transaction(fn) {
      return pg.transaction((tx) => fn(txClient(tx)));
    },
    async close() {
      if (!pg.closed) await pg.close();
    },
  };
}

function txClient(tx: Transaction): SqlClient {
  return {
    async query<R>(text: string, params: unknown[] = []) {
      const res = await tx.query<R>(text, params);
      return { rows: res.rows };
    },
    async exec(text) {
      await tx.exec(text);
    },
    transaction() {
      return Promise.reject(new Error("PGlite: transactions do not nest"));
    },
    close() {
      return Promise.reject(new Error("PGlite: cannot close the database from inside a transaction"));
    },
  };
}
