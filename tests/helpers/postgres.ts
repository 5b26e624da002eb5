import { after, before } from "node:test";
import { openPostgresClient, type SqlClient } from "@tessera/sql";

/**
 * Schemas of their own on the test Postgres, so runs sharing the engine never meet: created
 * before the enclosing suite, dropped (with everything in them) after it. Call inside
 * `describe`. `url(name)` connects with that schema as the search_path.
 */
export function testSchemas<K extends string>(pgUrl: string, prefix: string, names: readonly K[]) {
  const base = `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
  const schema = (name: K) => `${base}_${name}`;
  let admin: SqlClient | undefined;
  before(async () => {
    admin = await openPostgresClient({ url: pgUrl, poolSize: 1, setting: "test" });
    for (const n of names) await admin.exec(`CREATE SCHEMA ${schema(n)}`);
  });
  after(async () => {
    for (const n of names) await admin?.exec(`DROP SCHEMA IF EXISTS ${schema(n)} CASCADE`);
    await admin?.close();
  });
  return {
    schema,
    url(name: K): string {
      const u = new URL(pgUrl);
      u.searchParams.set("options", `-c search_path=${schema(name)}`);
      return u.toString();
    },
    /** A client with no schema of its own (to read across them). */
    admin: (): SqlClient => admin!,
  };
}
