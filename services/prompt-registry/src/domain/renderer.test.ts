import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { TesseraError } from "@tessera/runtime";
import { counting, memoryPromptStore } from "./store-contract.js";
import { createPromptAdmin, type Caller } from "./admin.js";
import { createRegistry } from "./registry.js";
import { createPromptRenderer } from "./renderer.js";
import { pickVersion } from "./split.js";
import type { PromptStore } from "./store.js";

const dev: Caller = { operator: false, tenantId: "acme", roles: ["developer"], actor: "key:dev" };
const spec = (text: string) => ({ model: "demo", messages: [{ role: "user", content: `${text} {{ who }}` }], variables: ["who"] });

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof TesseraError && e.details.code === code && message.test(e.message));
}

describe("rendering stored prompts", () => {
  let store: PromptStore;
  let admin: ReturnType<typeof createPromptAdmin>;
  const config = createRegistry([
    {
      name: "from-config",
      tenant: "*",
      versions: [
        { version: 1, model: "demo", variables: [], messages: [{ role: "user", content: "config v1" }] },
        { version: 2, model: "demo", variables: [], messages: [{ role: "user", content: "config v2" }] },
      ],
      labels: { production: [{ version: 1, weight: 1 }, { version: 2, weight: 1 }] },
    },
  ]);
  let renderer: ReturnType<typeof createPromptRenderer>;
  let reads: () => number;
  before(async () => {
    store = await memoryPromptStore();
    const c = counting(store);
    reads = c.reads;
    renderer = createPromptRenderer({ config, store: c.store, labelCacheMs: 60_000 });
    admin = createPromptAdmin({ store, models: new Set(["demo"]), inConfig: config.has, onChange: renderer.changed });
    await admin.publishVersion(dev, { tenantId: "", name: "greet", spec: spec("v1") });
    await admin.publishVersion(dev, { tenantId: "", name: "greet", spec: spec("v2") });
    await admin.setLabel(dev, { tenantId: "", name: "greet", label: "production", version: 1, split: [] });
  });
  after(() => store.close());

  it("renders the label's version, then serves from memory: no store read per call", async () => {
    const r = await renderer.render("acme", "greet", "", 0, { who: "Ann" }, "");
    assert.deepEqual([r.version, r.messages[0]!.content], [1, "v1 Ann"]);
    const before = reads();
    for (let i = 0; i < 200; i++) assert.equal((await renderer.render("acme", "greet", "production", 0, { who: `u${i}` }, `u${i}`)).version, 1);
    assert.equal(reads(), before, "200 calls, 0 reads");
    assert.equal((await renderer.render("acme", "greet", "", 2, { who: "x" }, "")).messages[0]!.content, "v2 x");
  });

  it("a label moved here is served at once; moved back, the rollback too", async () => {
    await admin.setLabel(dev, { tenantId: "", name: "greet", label: "production", version: 2, split: [] });
    assert.equal((await renderer.render("acme", "greet", "", 0, { who: "x" }, "")).version, 2);
    await admin.setLabel(dev, { tenantId: "", name: "greet", label: "production", version: 1, split: [] });
    assert.equal((await renderer.render("acme", "greet", "", 0, { who: "x" }, "")).version, 1);
  });

  it("a label moved on another replica is served within the cache time", async () => {
    const other = createPromptRenderer({ config, store, labelCacheMs: 100 });
    assert.equal((await other.render("acme", "greet", "", 0, { who: "x" }, "")).version, 1);
    await admin.setLabel(dev, { tenantId: "", name: "greet", label: "production", version: 2, split: [] });
    assert.equal((await other.render("acme", "greet", "", 0, { who: "x" }, "")).version, 1, "cached");
    await new Promise((r) => setTimeout(r, 120));
    assert.equal((await other.render("acme", "greet", "", 0, { who: "x" }, "")).version, 2);
    await admin.setLabel(dev, { tenantId: "", name: "greet", label: "production", version: 1, split: [] });
  });

  it("splits traffic by weight, the same caller always on the same version", async () => {
    await admin.setLabel(dev, { tenantId: "", name: "greet", label: "canary", version: 0, split: [{ version: 1, weight: 90 }, { version: 2, weight: 10 }] });
    const first = new Map<string, number>();
    for (let i = 0; i < 2000; i++) first.set(`user-${i}`, (await renderer.render("acme", "greet", "canary", 0, { who: "x" }, `user-${i}`)).version);
    const share = [...first.values()].filter((v) => v === 2).length / first.size;
    assert.ok(share > 0.07 && share < 0.13, `v2 share ${share} should be near 0.10`);
    for (const [key, v] of [...first].slice(0, 300)) assert.equal((await renderer.render("acme", "greet", "canary", 0, { who: "x" }, key)).version, v, key);
    assert.equal(pickVersion([{ version: 1, weight: 90 }, { version: 2, weight: 10 }], "greet", "canary", "user-7"), first.get("user-7"), "the pick is a pure function of prompt, label and key");
  });

  it("configured prompts come first, and their labels may be splits too", async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) seen.add((await renderer.render("acme", "from-config", "", 0, {}, `k${i}`)).version);
    assert.deepEqual([...seen].sort(), [1, 2]);
    assert.throws(() => createRegistry([{ name: "p", tenant: "*", versions: [{ version: 1, model: "m", variables: [], messages: [{ role: "user", content: "x" }] }], labels: { production: [{ version: 2, weight: 1 }] } }]), /prompts\.p\.labels\.production: split\[0\]: there is no version 2/);
  });

  it("unknown prompts, labels and versions are clear 404s; a version published later is served", async () => {
    await rejectsWith(renderer.render("acme", "nope", "", 0, {}, ""), "prompt_not_found", /Prompt 'nope' does not exist/);
    await rejectsWith(renderer.render("beta", "greet", "", 0, {}, ""), "prompt_not_found", /does not exist/);
    await rejectsWith(renderer.render("acme", "greet", "staging", 0, {}, ""), "label_not_found", /no label 'staging' \(labels: canary, production\)/);
    await rejectsWith(renderer.render("acme", "greet", "", 3, { who: "x" }, ""), "version_not_found", /no version 3/);
    await admin.publishVersion(dev, { tenantId: "", name: "greet", spec: spec("v3") });
    assert.equal((await renderer.render("acme", "greet", "", 3, { who: "x" }, "")).messages[0]!.content, "v3 x");
    await rejectsWith(renderer.render("acme", "greet", "", 0, {}, ""), "missing_variable", /Missing variable 'who'/);
  });
});
