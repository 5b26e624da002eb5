import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { testSchemas } from "../../../../tests/helpers/postgres.js";
import { authzStoreContract, keyRow, rid } from "../domain/store-contract.js";
import { migrate, openPostgresClient } from "@tessera/sql";
import { AUTHZ_LEDGER, MIGRATIONS } from "./migrations.js";
import { openPgliteStore, openPostgresStore } from "./sql-store.js";

authzStoreContract("pglite (memory)", () => openPgliteStore({ path: "" }));

describe("pglite store on disk", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "tessera-authz-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates the directory, migrates once, and keeps data across close and reopen", async () => {
    const path = join(dir, "nested", "authz");
    const lines: string[] = [];
    const first = await openPgliteStore({ path, log: (l) => lines.push(l) });
    assert.deepEqual(
      lines,
      MIGRATIONS.map((m) => `applied migration ${m.version} ${m.name}`),
    );
    const tenant = await first.createTenant({ id: "acme", name: "Acme" });
    const key = await first.createKey(keyRow("acme"));
    await first.close();

    const again: string[] = [];
    const second = await openPgliteStore({ path, log: (l) => again.push(l) });
    assert.deepEqual(again, [], "nothing to migrate on reopen");
    assert.deepEqual(await second.getTenant("acme"), tenant);
    assert.deepEqual(await second.getKeyByHash(key.keyHash), key);
    await second.close();
  });
});

describe("postgres connection errors", () => {
  it("name host:port and the setting to check, never the password", async () => {
    await assert.rejects(openPostgresStore({ url: "postgres://tessera:hunter2secret@127.0.0.1:1/tessera" }), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /^cannot connect to Postgres at 127\.0\.0\.1:1 \(.+\); check authz\.store\.url \/ url_env$/);
      assert.doesNotMatch(err.message, /hunter2secret/);
      return true;
    });
  });

  it("do not echo a URL that does not parse", async () => {
    await assert.rejects(openPostgresStore({ url: "tessera:hunter2secret@nowhere" }), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /check authz\.store\.url \/ url_env/);
      assert.doesNotMatch(err.message, /hunter2secret/);
      return true;
    });
  });
});

const PG_URL = process.env.TESSERA_TEST_POSTGRES_URL;

if (!PG_URL) {
  it("postgres authz store", () => {
    assert.fail(
      'TESSERA_TEST_POSTGRES_URL is not set. Run `scripts/infra up postgres` and `eval "$(scripts/infra env)"`, then run the tests again.',
    );
  });
} else {
  describe("postgres", () => {
    const pg = testSchemas(PG_URL, "tessera_test", ["contract", "twice", "race"]);

    authzStoreContract("postgres", () => openPostgresStore({ url: pg.url("contract"), poolSize: 4 }));

    /** The versions recorded in a schema's schema_migrations. */
    const recorded = async (name: "twice" | "race"): Promise<number[]> =>
      (await pg.admin().query<{ version: number }>(`SELECT version FROM ${pg.schema(name)}.schema_migrations ORDER BY version`)).rows.map((r) => r.version);

    it("migrate twice: the second run applies nothing", async () => {
      const db = await openPostgresClient({ url: pg.url("twice"), poolSize: 1, setting: "test" });
      try {
        const lines: string[] = [];
        assert.equal(await migrate(db, AUTHZ_LEDGER, (l) => lines.push(l)), MIGRATIONS.length);
        assert.deepEqual(
          lines,
          MIGRATIONS.map((m) => `applied migration ${m.version} ${m.name}`),
        );
        const again: string[] = [];
        assert.equal(await migrate(db, AUTHZ_LEDGER, (l) => again.push(l)), 0);
        assert.deepEqual(again, []);
        assert.deepEqual(
          await recorded("twice"),
          MIGRATIONS.map((m) => m.version),
        );
      } finally {
        await db.close();
      }
    });

    it("two processes migrating at once apply each migration once", async () => {
      const [a, b] = await Promise.all([
        openPostgresClient({ url: pg.url("race"), poolSize: 1, setting: "test" }),
        openPostgresClient({ url: pg.url("race"), poolSize: 1, setting: "test" }),
      ]);
      try {
        const [na, nb] = await Promise.all([migrate(a, AUTHZ_LEDGER), migrate(b, AUTHZ_LEDGER)]);
        assert.equal(na + nb, MIGRATIONS.length);
        assert.deepEqual(
          await recorded("race"),
          MIGRATIONS.map((m) => m.version),
        );
        const store = await openPostgresStore({ url: pg.url("race"), poolSize: 1 });
        assert.ok(await store.createTenant({ id: rid("t"), name: "works" }));
        await store.close();
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });
}
