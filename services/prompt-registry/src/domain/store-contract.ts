import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openPgliteClient } from "@tessera/sql";
import type { PublishedApi } from "@tessera/runtime";
import { openMigratedPromptStore } from "../adapters/sql-store.js";
import type { PromptStore, VersionSpec } from "./store.js";

/** A random name with a readable prefix, so runs sharing one database never collide. */
export const rid = (prefix: string): string => `${prefix}-${Math.random().toString(36).slice(2, 10)}`;

/** A migrated prompt store in a new in-memory PGlite, for tests. */
export async function memoryPromptStore(): Promise<PromptStore> {
  return openMigratedPromptStore(await openPgliteClient("", "test"));
}

/** A store that counts the reads it answers. */
export function counting(store: PromptStore): { store: PromptStore; reads: () => number } {
  let n = 0;
  const wrapped = new Proxy(store, {
    get(t, prop: keyof PromptStore) {
      const v = t[prop];
      if (typeof v !== "function" || !/^(get|list)/.test(prop)) return v;
      return (...args: unknown[]) => (n++, (v as (...a: unknown[]) => unknown).apply(t, args));
    },
  });
  return { store: wrapped, reads: () => n };
}

/** A published API with the defaults the schema fills in; `over` replaces any field. */
export function api(over: Partial<PublishedApi> & { path: string }): PublishedApi {
  return { description: "", input: [], access: { keys: [], teams: [], roles: [] }, requires_approval: false, ...over };
}

/** A version's content with sensible values; `over` replaces any field. */
export function spec(over: Partial<VersionSpec> = {}): VersionSpec {
  return {
    model: "gpt-fake",
    messages: [
      { role: "system", content: "Summarise for {{ audience }}." },
      { role: "user", content: "{{ text }}" },
    ],
    variables: ["text", { name: "audience", type: "string", default: "everyone", enum: ["everyone", "execs"] }],
    ...over,
  };
}

/**
 * What every prompt store must do (see store.ts). `open` is called once for the whole suite
 * and must give a migrated store; the suite closes it at the end. Every tenant is random, so
 * the suite may run against a database other runs use.
 */
export function promptStoreContract(name: string, open: () => Promise<PromptStore>): void {
  describe(`prompt store contract: ${name}`, () => {
    let store: PromptStore;
    before(async () => {
      store = await open();
    });
    after(() => store.close());

    /** A tenant with one prompt "p" created by "operator". */
    async function withPrompt(): Promise<{ tenantId: string; name: string }> {
      const tenantId = rid("t");
      assert.ok(await store.createPrompt({ tenantId, name: "p", description: "a prompt", createdBy: "operator" }));
      return { tenantId, name: "p" };
    }

    it("creates a prompt once per tenant and name, and lists a tenant's prompts by name", async () => {
      const tenantId = rid("t");
      const other = rid("t");
      const made = await store.createPrompt({ tenantId, name: "zeta", description: "last", createdBy: "key:k1" });
      assert.ok(made);
      assert.deepEqual({ ...made, createdAt: undefined }, { tenantId, name: "zeta", description: "last", latestVersion: 0, createdAt: undefined, createdBy: "key:k1" });
      assert.ok(made.createdAt instanceof Date && Math.abs(made.createdAt.getTime() - Date.now()) < 60_000);
      assert.equal(await store.createPrompt({ tenantId, name: "zeta", description: "again", createdBy: "x" }), undefined, "exists already");
      assert.ok(await store.createPrompt({ tenantId, name: "alpha", description: "", createdBy: "x" }));
      assert.ok(await store.createPrompt({ tenantId: other, name: "zeta", description: "another tenant's", createdBy: "x" }), "names are per tenant");
      assert.deepEqual((await store.listPrompts(tenantId)).map((p) => p.name), ["alpha", "zeta"]);
      assert.equal((await store.getPrompt(tenantId, "zeta"))?.description, "last");
      assert.equal((await store.getPrompt(other, "zeta"))?.description, "another tenant's");
      assert.equal(await store.getPrompt(tenantId, "nope"), undefined);
      assert.deepEqual(await store.listPrompts(rid("t")), []);
    });

    it("numbers versions 1..n, keeps their content exactly, and moves latest_version", async () => {
      const { tenantId, name } = await withPrompt();
      const first = spec({ output_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }, temperature: 0.7, max_tokens: 256 });
      const v1 = await store.addVersion({ tenantId, name, spec: first, digest: "d1", createdBy: "operator" });
      const v2 = await store.addVersion({ tenantId, name, spec: spec({ model: "demo", variables: [{ name: "n", type: "integer", default: 3 }, { name: "flag", type: "boolean", required: false }] }), digest: "d2", createdBy: "key:k2" });
      assert.equal(v1?.version, 1);
      assert.equal(v2?.version, 2);
      assert.deepEqual(v1.spec, first);
      assert.equal(v2.createdBy, "key:k2");
      assert.deepEqual(await store.getVersion(tenantId, name, 1), v1);
      assert.deepEqual((await store.listVersions(tenantId, name)).map((v) => [v.version, v.digest]), [[1, "d1"], [2, "d2"]]);
      assert.equal((await store.getPrompt(tenantId, name))?.latestVersion, 2);
      assert.equal(await store.getVersion(tenantId, name, 3), undefined);
      assert.equal(await store.addVersion({ tenantId, name: "missing", spec: spec(), digest: "d", createdBy: "x" }), undefined, "no such prompt");
      assert.deepEqual(await store.listVersions(tenantId, "missing"), []);
    });

    it("gives concurrent publishers distinct consecutive numbers", async () => {
      const { tenantId, name } = await withPrompt();
      const made = await Promise.all(Array.from({ length: 8 }, (_, i) => store.addVersion({ tenantId, name, spec: spec(), digest: `d${i}`, createdBy: "x" })));
      assert.deepEqual(made.map((v) => v?.version).sort((a, b) => a! - b!), [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.equal((await store.getPrompt(tenantId, name))?.latestVersion, 8);
    });

    it("sets, moves and deletes labels, answering what they pointed at before", async () => {
      const { tenantId, name } = await withPrompt();
      const set = await store.setLabel({ tenantId, name, label: "production", targets: [{ version: 1, weight: 100 }], updatedBy: "operator" });
      assert.equal(set.before, null, "a new label");
      assert.deepEqual(set.row.targets, [{ version: 1, weight: 100 }]);
      const canary = [
        { version: 1, weight: 90 },
        { version: 2, weight: 10 },
      ];
      const moved = await store.setLabel({ tenantId, name, label: "production", targets: canary, updatedBy: "key:k9" });
      assert.deepEqual(moved.before, [{ version: 1, weight: 100 }]);
      assert.deepEqual(moved.row.targets, canary);
      assert.equal(moved.row.updatedBy, "key:k9");
      await store.setLabel({ tenantId, name, label: "staging", targets: [{ version: 2, weight: 1 }], updatedBy: "x" });
      assert.deepEqual((await store.listLabels(tenantId, name)).map((l) => [l.label, l.targets]), [
        ["production", canary],
        ["staging", [{ version: 2, weight: 1 }]],
      ]);
      assert.deepEqual(await store.deleteLabel(tenantId, name, "staging"), [{ version: 2, weight: 1 }]);
      assert.equal(await store.deleteLabel(tenantId, name, "staging"), undefined);
      assert.deepEqual((await store.listLabels(tenantId, name)).map((l) => l.label), ["production"]);
      assert.deepEqual(await store.listLabels(rid("t"), name), []);
    });

    it("keeps history newest first, by prompt or tenant, paged by id", async () => {
      const { tenantId, name } = await withPrompt();
      await store.createPrompt({ tenantId, name: "q", description: "", createdBy: "x" });
      const a = await store.appendHistory({ actor: "operator", tenantId, name, action: "prompt.create", version: 0, label: "", before: null, after: null });
      const b = await store.appendHistory({ actor: "key:k1", tenantId, name, action: "version.publish", version: 1, label: "", before: null, after: null });
      const c = await store.appendHistory({ actor: "key:k1", tenantId, name: "q", action: "prompt.create", version: 0, label: "", before: null, after: null });
      const d = await store.appendHistory({ actor: "jwt:ann", tenantId, name, action: "label.set", version: 0, label: "production", before: [{ version: 1, weight: 100 }], after: [{ version: 1, weight: 90 }, { version: 2, weight: 10 }] });
      assert.ok(a.id < b.id && b.id < c.id && c.id < d.id, "ids increase");
      assert.deepEqual(d.after, [{ version: 1, weight: 90 }, { version: 2, weight: 10 }]);
      assert.deepEqual((await store.listHistory({ tenantId, name, limit: 10 })).map((h) => h.id), [d.id, b.id, a.id]);
      assert.deepEqual((await store.listHistory({ tenantId, limit: 10 })).map((h) => h.id), [d.id, c.id, b.id, a.id]);
      assert.deepEqual((await store.listHistory({ tenantId, limit: 2, beforeId: c.id })).map((h) => h.id), [b.id, a.id]);
      const got = (await store.listHistory({ tenantId, name, limit: 1 }))[0]!;
      assert.deepEqual(got, d);
      assert.equal(got.before?.[0]?.weight, 100);
      const first = (await store.listHistory({ tenantId, name, limit: 1, beforeId: b.id }))[0]!;
      assert.deepEqual([first.before, first.after, first.label, first.version, first.apiBefore, first.apiAfter], [null, null, "", 0, null, null]);
      await assert.rejects(store.listHistory({ tenantId, limit: -1 }), /limit must be a non-negative integer/);
    });

    it("publishes, replaces, lists and deletes APIs per tenant, answering the definition replaced", async () => {
      const tenantId = rid("t");
      const other = rid("t");
      const chain = api({ path: "/apis/support/reply", input: ["ticket"], steps: [{ name: "extract", prompt: "p", variables: { ticket: "{{ input.ticket }}" } }] });
      const first = await store.putApi({ tenantId, spec: chain, updatedBy: "key:k1" });
      assert.equal(first.before, null, "a new API");
      assert.deepEqual(first.row.spec, chain);
      assert.deepEqual([first.row.path, first.row.createdBy, first.row.updatedBy], ["/apis/support/reply", "key:k1", "key:k1"]);
      const single = api({ path: "/apis/support/reply", prompt: "p", label: "staging", access: { keys: ["key_1"], teams: [], roles: ["admin"] }, requires_approval: true });
      const replaced = await store.putApi({ tenantId, spec: single, updatedBy: "operator" });
      assert.deepEqual(replaced.before, chain);
      assert.deepEqual([replaced.row.spec, replaced.row.createdBy, replaced.row.updatedBy], [single, "key:k1", "operator"]);
      assert.ok(replaced.row.updatedAt >= first.row.updatedAt && replaced.row.createdAt.getTime() === first.row.createdAt.getTime());
      await store.putApi({ tenantId, spec: api({ path: "/apis/a", prompt: "p" }), updatedBy: "x" });
      await store.putApi({ tenantId: other, spec: api({ path: "/apis/a", prompt: "q" }), updatedBy: "x" });
      assert.deepEqual((await store.listApis(tenantId)).map((a) => a.path), ["/apis/a", "/apis/support/reply"]);
      assert.deepEqual(await store.getApi(tenantId, "/apis/support/reply"), replaced.row);
      assert.equal((await store.getApi(other, "/apis/a"))?.spec.prompt, "q", "paths are per tenant");
      assert.deepEqual(await store.deleteApi(tenantId, "/apis/support/reply"), single);
      assert.equal(await store.deleteApi(tenantId, "/apis/support/reply"), undefined);
      assert.equal(await store.getApi(tenantId, "/apis/support/reply"), undefined);
      const h = await store.appendHistory({ actor: "operator", tenantId, name: "/apis/support/reply", action: "api.delete", version: 0, label: "", before: null, after: null, apiBefore: single, apiAfter: null });
      assert.deepEqual((await store.listHistory({ tenantId, name: "/apis/support/reply", limit: 5 }))[0], h);
      assert.deepEqual([h.apiBefore, h.apiAfter], [single, null]);
      await store.transaction(async (tx) => {
        assert.equal((await tx.lockApi(tenantId, "/apis/a"))?.spec.prompt, "p");
        assert.equal(await tx.lockApi(tenantId, "/apis/none"), undefined);
      });
    });

    it("a transaction lands all of its writes or none", async () => {
      const { tenantId, name } = await withPrompt();
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.addVersion({ tenantId, name, spec: spec(), digest: "d", createdBy: "x" });
          await tx.appendHistory({ actor: "x", tenantId, name, action: "version.publish", version: 1, label: "", before: null, after: null });
          throw new Error("changed my mind");
        }),
        /changed my mind/,
      );
      assert.deepEqual(await store.listVersions(tenantId, name), []);
      assert.equal((await store.getPrompt(tenantId, name))?.latestVersion, 0);
      assert.deepEqual(await store.listHistory({ tenantId, limit: 10 }), []);
      const v = await store.transaction(async (tx) => {
        assert.equal((await tx.lockPrompt(tenantId, name))?.name, name);
        assert.equal(await tx.lockPrompt(tenantId, "missing"), undefined);
        const made = await tx.addVersion({ tenantId, name, spec: spec(), digest: "d", createdBy: "x" });
        await tx.setLabel({ tenantId, name, label: "production", targets: [{ version: made!.version, weight: 100 }], updatedBy: "x" });
        await assert.rejects(tx.transaction(async () => undefined), /not nestable/);
        return made!.version;
      });
      assert.equal(v, 1);
      assert.equal((await store.listLabels(tenantId, name))[0]?.targets[0]?.version, 1);
    });
  });
}
