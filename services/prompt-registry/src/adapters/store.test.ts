import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSqlDatabases, migrate, openPostgresClient, type SqlClient } from "@tessera/sql";
import { testSchemas } from "../../../../tests/helpers/postgres.js";
import { openMigratedStore } from "../../../authz/src/adapters/sql-store.js";
import { api, memoryPromptStore, promptStoreContract, rid, spec } from "../domain/store-contract.js";
import { PROMPT_LEDGER } from "./migrations.js";
import { openMigratedPromptStore } from "./sql-store.js";

promptStoreContract("pglite (memory)", memoryPromptStore);

/** Versions are insert only: the database refuses an UPDATE or DELETE of one, whoever asks. */
async function refusesToChangeVersions(db: SqlClient): Promise<void> {
  const store = await openMigratedPromptStore(db);
  const tenantId = rid("t");
  await store.createPrompt({ tenantId, name: "p", description: "", createdBy: "x" });
  await store.addVersion({ tenantId, name: "p", spec: spec(), digest: "d", createdBy: "x" });
  await assert.rejects(db.query("UPDATE prompt_versions SET digest = 'changed' WHERE tenant_id = $1", [tenantId]), /prompt versions are immutable: UPDATE refused/);
  await assert.rejects(db.query("DELETE FROM prompt_versions WHERE tenant_id = $1", [tenantId]), /prompt versions are immutable: DELETE refused/);
  assert.equal((await store.getVersion(tenantId, "p", 1))?.digest, "d");
}

describe("pglite", () => {
  it("refuses to change or delete a version", async () => {
    const dbs = createSqlDatabases();
    try {
      await refusesToChangeVersions(await dbs.open({ kind: "pglite", path: "" }, "test"));
    } finally {
      await dbs.close();
    }
  });

  it("a store of the first schema keeps its history when migrated to stored APIs", async () => {
    const dbs = createSqlDatabases();
    try {
      const db = await dbs.open({ kind: "pglite", path: "" }, "test");
      await migrate(db, { ...PROMPT_LEDGER, migrations: PROMPT_LEDGER.migrations.slice(0, 1) });
      await db.query("INSERT INTO prompt_history (id, at, actor, tenant_id, name, action) VALUES ('01A', now(), 'operator', 'acme', 'p', 'prompt.create')");
      const store = await openMigratedPromptStore(db);
      await store.appendHistory({ actor: "operator", tenantId: "acme", name: "/apis/a", action: "api.delete", version: 0, label: "", before: null, after: null, apiBefore: api({ path: "/apis/a", prompt: "p" }) });
      assert.deepEqual((await store.listHistory({ tenantId: "acme", limit: 5 })).map((h) => [h.action, h.apiBefore?.path ?? null]), [["api.delete", "/apis/a"], ["prompt.create", null]]);
      await assert.rejects(db.query("INSERT INTO prompt_history (id, at, actor, tenant_id, name, action) VALUES ('01B', now(), 'x', 'acme', 'p', 'api.rename')"), /prompt_history_action_check/);
    } finally {
      await dbs.close();
    }
  });

  it("shares one database with authz: each store its own tables and ledger", async () => {
    const dbs = createSqlDatabases();
    try {
      const settings = { kind: "pglite" as const, path: "" };
      const authz = await openMigratedStore(await dbs.open(settings, "authz.store"));
      const lines: string[] = [];
      const prompts = await openMigratedPromptStore(await dbs.open(settings, "prompt_registry.store"), (l) => lines.push(l));
      assert.deepEqual(lines, PROMPT_LEDGER.migrations.map((m) => `applied migration ${m.version} ${m.name}`), "its own ledger: authz's versions do not count");
      await authz.createTenant({ id: "acme", name: "Acme" });
      await prompts.createPrompt({ tenantId: "acme", name: "p", description: "", createdBy: "x" });
      const db = await dbs.open(settings, "test");
      const ledgers = await db.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_name IN ('schema_migrations', 'prompt_schema_migrations') ORDER BY 1");
      assert.deepEqual(ledgers.rows.map((r) => r.t), ["prompt_schema_migrations", "schema_migrations"]);
      assert.equal((await authz.getTenant("acme"))?.name, "Acme");
      assert.equal((await prompts.getPrompt("acme", "p"))?.name, "p");
    } finally {
      await dbs.close();
    }
  });
});

const PG_URL = process.env.TESSERA_TEST_POSTGRES_URL;

if (!PG_URL) {
  it("postgres prompt store", () => {
    assert.fail('TESSERA_TEST_POSTGRES_URL is not set. Run `scripts/infra up postgres` and `eval "$(scripts/infra env)"`, then run the tests again.');
  });
} else {
  describe("postgres", () => {
    const pg = testSchemas(PG_URL, "tessera_prompts", ["contract", "race", "immutable"]);

    promptStoreContract("postgres", async () => openMigratedPromptStore(await openPostgresClient({ url: pg.url("contract"), poolSize: 4, setting: "test" })));

    it("refuses to change or delete a version", async () => {
      const db = await openPostgresClient({ url: pg.url("immutable"), poolSize: 2, setting: "test" });
      try {
        await refusesToChangeVersions(db);
      } finally {
        await db.close();
      }
    });

    it("two processes migrating at once apply each migration once", async () => {
      const [a, b] = await Promise.all([0, 1].map(() => openPostgresClient({ url: pg.url("race"), poolSize: 1, setting: "test" })));
      try {
        const [na, nb] = await Promise.all([migrate(a!, PROMPT_LEDGER), migrate(b!, PROMPT_LEDGER)]);
        assert.equal(na! + nb!, PROMPT_LEDGER.migrations.length);
        const rows = await pg.admin().query<{ version: number }>(`SELECT version FROM ${pg.schema("race")}.prompt_schema_migrations ORDER BY version`);
        assert.deepEqual(rows.rows.map((r) => r.version), PROMPT_LEDGER.migrations.map((m) => m.version));
      } finally {
        await Promise.all([a!.close(), b!.close()]);
      }
    });
  });
}
