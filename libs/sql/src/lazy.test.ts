import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createLazy } from "./lazy.js";
import { openPgliteClient } from "./pglite.js";
import { createSqlDatabases } from "./databases.js";

/** A tiny store over PGlite: one table, one read, one write. */
async function openNotes(path: string) {
  const db = await openPgliteClient(path, "test.store");
  await db.exec("CREATE TABLE IF NOT EXISTS notes (id text PRIMARY KEY)");
  return {
    async count(): Promise<number> {
      return Number((await db.query<{ n: number }>("SELECT count(*)::int AS n FROM notes")).rows[0]!.n);
    },
    async add(id: string): Promise<void> {
      await db.query("INSERT INTO notes (id) VALUES ($1)", [id]);
    },
    close: () => db.close(),
  };
}

test("a lazy store answers reads empty without opening, opens on the first write, then reads through", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "tessera-lazy-")), "notes");
  let opens = 0;
  const store = createLazy(
    () => {
      opens++;
      return openNotes(dir);
    },
    { count: () => 0 },
  );
  try {
    assert.equal(await store.count(), 0);
    assert.equal(opens, 0);
    assert.equal(store.opened, false);
    assert.equal(existsSync(dir), false, "no files until the first write");
    await store.add("a");
    assert.equal(opens, 1);
    assert.equal(store.opened, true);
    assert.equal(await store.count(), 1);
    await store.add("b");
    assert.equal(await store.count(), 2);
    assert.equal(opens, 1);
  } finally {
    await store.close();
    rmSync(dirname(dir), { recursive: true, force: true });
  }
});

test("databases open each database once, share it, and only their own close() closes it", async () => {
  const dbs = createSqlDatabases();
  const settings = { kind: "pglite" as const, path: "" };
  const a = await dbs.open(settings, "a.store");
  const b = await dbs.open(settings, "b.store");
  await a.exec("CREATE TABLE shared (v int)");
  await b.query("INSERT INTO shared (v) VALUES ($1)", [7]);
  await a.close();
  assert.deepEqual((await b.query<{ v: number }>("SELECT v FROM shared")).rows, [{ v: 7 }], "one database, still open after a store closes");
  await dbs.close();
  await assert.rejects(b.query("SELECT 1"));
  assert.equal(dbs.exists({ kind: "pglite", path: join(tmpdir(), "tessera-never-made") }), false);
  assert.equal(dbs.exists(settings), true, "memory always exists");
});

test("a postgres store without a URL names the setting to fix", async () => {
  const dbs = createSqlDatabases();
  await assert.rejects(dbs.open({ kind: "postgres", url_env: "TESSERA_TEST_UNSET_PG_URL", pool_size: 1 }, "prompt_registry.store"), /^Error: prompt_registry\.store: set url, or url_env .* \(TESSERA_TEST_UNSET_PG_URL is not set\)$/);
});
