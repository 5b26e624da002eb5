import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLazyStore } from "./lazy-store.js";
import { openPgliteStore } from "./pglite-store.js";

test("a lazy store answers reads empty without opening, opens on the first write, then reads through", async () => {
  const dir = join(mkdtempSync(join(tmpdir(), "tessera-lazy-")), "authz");
  let opens = 0;
  const store = createLazyStore(() => {
    opens++;
    return openPgliteStore({ path: dir });
  });
  try {
    assert.equal(await store.getKeyByHash("0".repeat(64)), undefined);
    assert.deepEqual(await store.limitsFor("acme", [{ scope: "tenant", scopeId: "acme" }]), []);
    assert.equal(await store.isSubscribed("acme", "", "model", "m"), false);
    assert.equal(opens, 0);
    assert.equal(store.opened, false);
    assert.equal(existsSync(dir), false, "no files until the first write");
    await store.createTenant({ id: "acme", name: "Acme" });
    assert.equal(opens, 1);
    assert.equal(store.opened, true);
    assert.equal((await store.getTenant("acme"))?.name, "Acme");
    await store.transaction((tx) => tx.createTeam({ tenantId: "acme", id: "core", name: "Core", modelsAllow: [], modelsDeny: [] }));
    assert.equal((await store.listTeams("acme")).length, 1);
    assert.equal(opens, 1);
  } finally {
    await store.close();
    rmSync(dirname(dir), { recursive: true, force: true });
  }
});

function dirname(p: string): string {
  return p.slice(0, p.lastIndexOf("/"));
}
