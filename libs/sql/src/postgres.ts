import type { SqlClient } from "./client.js";

/** Options for {@link openPostgresClient}. */
export interface PostgresOptions {
  /** postgres://user:password@host:port/database[?options=…]; never logged with its password. */
  url: string;
  /** Pooled connections (default 10). */
  poolSize?: number;
  /** Pool errors. */
  log?: (line: string) => void;
  /** The configuration to check, named in errors, e.g. "authz.store". */
  setting: string;
}

/**
 * A {@link SqlClient} over a new `pg` pool, after one round trip that proves the database
 * answers: failing that, an error that names host:port (never the password) and the
 * configuration to check. Transactions take one pooled client for BEGIN … COMMIT/ROLLBACK.
 */
export async function openPostgresClient(opts: PostgresOptions): Promise<SqlClient> {
  const setting = opts.setting;
  const target = describeTarget(opts.url, setting);
  const poolSize = opts.poolSize ?? 10;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new Error(`${setting}: pool_size must be a positive integer, got ${poolSize}`);
  }
  const pg = await loadPg();
  const pool = new pg.Pool({ connectionString: opts.url, max: poolSize, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An idle pooled connection that breaks emits 'error' on the pool; unhandled, it would end
  // the process. The pool drops that connection and opens another when next needed.
  pool.on("error", (err) => opts.log?.(`postgres: an idle connection to ${target.hostPort} failed (${scrub(errorText(err), target.password)})`));
  try {
    await pool.query("SELECT 1");
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(
      `cannot connect to Postgres at ${target.hostPort} (${scrub(errorText(err), target.password)}); check ${setting}.url / url_env`,
    );
  }
  return poolClient(pool);
}

/** How long to wait for a new connection before failing (a blackholed host would hang). */
const CONNECT_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------
// The slice of `pg` used here (the package ships no types, and @types/pg is not installed)
// ---------------------------------------------------------------------------

interface PgQueryable {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}
interface PgPoolClient extends PgQueryable {
  /** Return to the pool; an Error destroys the connection instead. */
  release(err?: Error): void;
}
interface PgPool extends PgQueryable {
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
  on(event: "error", listener: (err: Error) => void): unknown;
}
interface PgModule {
  Pool: new (config: { connectionString: string; max: number; connectionTimeoutMillis: number }) => PgPool;
}

/** `pg`, loaded on first use so the all-in-one (PGlite) never loads it. */
async function loadPg(): Promise<PgModule> {
  // The specifier is widened to string only so TypeScript does not look for pg's (missing)
  // declarations; at run time (and for esbuild, which keeps it external) it is plain "pg".
  const mod = (await import("pg" as string)) as { default?: PgModule } & Partial<PgModule>;
  const pg = mod.default ?? (mod as PgModule);
  if (typeof pg.Pool !== "function") throw new Error("the 'pg' package has no Pool export");
  return pg;
}

function poolClient(pool: PgPool): SqlClient {
  return {
    query: <R>(text: string, params?: unknown[]) => pool.query<R>(text, params),
    async exec(text) {
      await pool.query(text);
    },
    async transaction(fn) {
      const conn = await pool.connect();
      let broken: Error | undefined;
      try {
        await conn.query("BEGIN");
        const out = await fn(txClient(conn));
        await conn.query("COMMIT");
        return out;
      } catch (err) {
        // A connection whose ROLLBACK fails is in an unknown state: destroy it, not reuse it.
        await conn.query("ROLLBACK").catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
        throw err;
      } finally {
        conn.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

function txClient(conn: PgPoolClient): SqlClient {
  return {
    query: <R>(text: string, params?: unknown[]) => conn.query<R>(text, params),
    async exec(text) {
      await conn.query(text);
    },
    transaction: () => Promise.reject(new Error("postgres: transactions do not nest")),
    close: () => Promise.reject(new Error("postgres: cannot close the pool from inside a transaction")),
  };
}

// ---------------------------------------------------------------------------
// Messages without secrets
// ---------------------------------------------------------------------------

interface Target {
  /** "host:port", for messages. */
  hostPort: string;
  /** The URL's password ("" when none), only to scrub it from driver messages. */
  password: string;
}

/** host:port and password of a postgres URL; a URL that does not parse is not echoed. */
export function describeTarget(url: string, setting: string): Target {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`the Postgres URL does not parse (expected postgres://user:password@host:port/database); check ${setting}.url / url_env`);
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new Error(`the Postgres URL must start with postgres:// or postgresql://, got ${u.protocol}//…; check ${setting}.url / url_env`);
  }
  const host = u.hostname || u.searchParams.get("host") || "localhost";
  return { hostPort: `${host}:${u.port || "5432"}`, password: decodeURIComponent(u.password) };
}

/** A driver error's text: its message, else its code (Node's AggregateError has neither at the top). */
function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errorText(err.errors[0]);
  if (err instanceof Error) return err.message || (err as { code?: string }).code || err.name;
  return String(err);
}

/** Replace any occurrence of the password (should a driver ever echo it). */
function scrub(text: string, password: string): string {
  return password.length >= 3 ? text.split(password).join("***") : text;
}
