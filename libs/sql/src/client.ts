/**
 * The little a SQL engine must offer a store: parameterised queries, multi-statement scripts,
 * transactions on one connection, close. Implemented over `pg` (postgres.ts) and PGlite
 * (pglite.ts); each store keeps its own SQL over this interface.
 */
export interface SqlClient {
  /** One statement with `$1`-style parameters. */
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  /** One or more statements, no parameters (migrations). */
  exec(text: string): Promise<void>;
  /**
   * Run `fn` on one connection between BEGIN and COMMIT; ROLLBACK and rethrow when it throws.
   * The client passed to `fn` must not start another transaction.
   */
  transaction<T>(fn: (db: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** One schema change. */
export interface Migration {
  /** 1, 2, 3…: applied in this order, each once. */
  version: number;
  /** Short snake_case description, recorded in the ledger and logged. */
  name: string;
  /** One or more statements, run with the simple query protocol (no parameters). */
  sql: string;
}

/**
 * A store's migrations and where their progress is recorded. Stores that share a database
 * (authz and prompts, all-in-one) each keep a ledger table of their own, so their version
 * numbers never meet.
 *
 * Rules: a migration, once released, is never edited; a change is a new migration with the
 * next version. Each runs in its own transaction, so it may hold several statements but must
 * not use statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY, VACUUM).
 */
export interface MigrationLedger {
  /** The table recording applied versions, e.g. "schema_migrations". */
  table: string;
  /**
   * The advisory lock key (a bigint as text) that serialises this ledger's migrations across
   * processes: any constant no other code in the database uses.
   */
  lockKey: string;
  migrations: readonly Migration[];
}

/** Connection settings of a SQL store, as configured (`authz.store`, `prompt_registry.store`). */
export type StoreSettings =
  | { kind: "pglite"; path: string }
  | { kind: "postgres"; url?: string | undefined; url_env?: string | undefined; pool_size: number };

/**
 * Apply the ledger's pending migrations in version order, each in its own transaction that
 * first takes `pg_advisory_xact_lock(lockKey)`, so that replicas starting together apply each
 * migration exactly once (the second waits, then finds it recorded). Logs
 * "applied migration N name" per migration applied. Returns how many were applied.
 */
export async function migrate(db: SqlClient, ledger: MigrationLedger, log?: (line: string) => void): Promise<number> {
  checkOrder(ledger.migrations);
  if (!/^[a-z_][a-z0-9_]*$/.test(ledger.table)) throw new Error(`migrations: ledger table '${ledger.table}' is not a plain identifier`);
  const ddl = `CREATE TABLE IF NOT EXISTS ${ledger.table} (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;
  let applied = 0;
  for (const m of ledger.migrations) {
    const ran = await db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1::bigint)", [ledger.lockKey]);
      await tx.exec(ddl);
      const done = await tx.query<{ version: number }>(`SELECT version FROM ${ledger.table} WHERE version = $1`, [m.version]);
      if (done.rows.length > 0) return false;
      await tx.exec(m.sql);
      await tx.query(`INSERT INTO ${ledger.table} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      return true;
    });
    if (ran) {
      applied++;
      log?.(`applied migration ${m.version} ${m.name}`);
    }
  }
  return applied;
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    const prev = migrations[i - 1];
    if (!Number.isInteger(m.version) || m.version < 1 || (prev && m.version <= prev.version)) {
      throw new Error(`migrations must have increasing positive integer versions; ${m.version} (${m.name}) is out of order`);
    }
  });
}

/**
 * `db` once `migrate` has applied the ledger's pending migrations. When migrating fails,
 * closes `db` (a failure to close is ignored) and rethrows the migration's error.
 */
export async function migrated(db: SqlClient, ledger: MigrationLedger, log?: (line: string) => void): Promise<SqlClient> {
  try {
    await migrate(db, ledger, log);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return db;
}

/** A timestamp as a driver returns it: a Date (pg, PGlite), or text should a parser be off. */
export type DbTime = Date | string;
/** bigint columns arrive as text from pg and as number from PGlite. */
export type DbInt = number | string;

export const time = (v: DbTime): Date => (v instanceof Date ? v : new Date(v));
export const timeOrNull = (v: DbTime | null): Date | null => (v === null ? null : time(v));

/** A jsonb column: parsed by pg and PGlite, text should a parser be off. */
export function json<T>(v: T | string | null, empty: T): T {
  if (v === null) return empty;
  return typeof v === "string" ? (JSON.parse(v) as T) : v;
}

/** The constraint of a unique violation (SQLSTATE 23505; pg and PGlite use these names), else undefined. */
export function uniqueViolation(err: unknown): { constraint: string } | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === "23505" ? { constraint: typeof e.constraint === "string" ? e.constraint : "" } : undefined;
}

/** Query helpers over one client: a row or undefined, exactly one row, all rows. */
export function rowsOf(db: SqlClient, store: string) {
  const one = async <R, T>(text: string, params: unknown[], convert: (r: R) => T): Promise<T | undefined> => {
    const { rows } = await db.query<R>(text, params);
    return rows[0] === undefined ? undefined : convert(rows[0]);
  };
  return {
    one,
    async must<R, T>(text: string, params: unknown[], convert: (r: R) => T): Promise<T> {
      const row = await one(text, params, convert);
      if (row === undefined) throw new Error(`${store}: no row returned by ${text.split("\n")[0]}`);
      return row;
    },
    async all<R, T>(text: string, params: unknown[], convert: (r: R) => T): Promise<T[]> {
      return (await db.query<R>(text, params)).rows.map(convert);
    },
  };
}
