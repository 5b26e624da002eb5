import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createBreakers, type BreakerStore } from "./breaker.js";

/** Resolve when `check` holds, or fail after `ms`. */
export async function eventually(check: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A store error handler that fails the test. */
const noError = (err: unknown): void => assert.fail(`breaker store error: ${String(err)}`);

/**
 * What every breaker store must do. `replicas()` returns two stores that share state, as two
 * router replicas would (the same memory instance twice, or two Redis connections).
 */
export function breakerStoreContract(name: string, replicas: () => Promise<[BreakerStore, BreakerStore]>): void {
  describe(`breaker store contract: ${name}`, () => {
    const opts = { failureThreshold: 3, windowMs: 1_000, cooldownMs: 150 };
    const id = () => `dep-${Math.random().toString(36).slice(2)}`;

    it("counts failures in a window that starts at the first one", async () => {
      const [a, b] = await replicas();
      const d = id();
      assert.equal(await a.failure(d, 200), 1);
      assert.equal(await b.failure(d, 200), 2, "both replicas count into one window");
      await new Promise((r) => setTimeout(r, 260));
      assert.equal(await a.failure(d, 200), 1, "a new window after the first ended");
      await Promise.all([a.stop(), b.stop()]);
    });

    it("opens on one replica at the threshold and the other skips the deployment", async () => {
      const [a, b] = await replicas();
      const errors: unknown[] = [];
      const ba = await createBreakers(a, opts, (e) => errors.push(e));
      const bb = await createBreakers(b, opts, (e) => errors.push(e));
      const d = id();
      ba.failure(d);
      ba.failure(d);
      assert.equal(bb.allow(d), "closed", "below the threshold");
      ba.failure(d);
      await eventually(() => bb.allow(d) === "open");
      assert.equal(ba.allow(d), "open");
      assert.ok(bb.openUntil(d) > Date.now(), "open-until is in the future");
      assert.deepEqual(errors, []);
      await Promise.all([ba.stop(), bb.stop()]);
    });

    it("lets one trial through after the cooldown; its success closes the breaker everywhere", async () => {
      const [a, b] = await replicas();
      const ba = await createBreakers(a, opts, noError);
      const bb = await createBreakers(b, opts, noError);
      const d = id();
      for (let i = 0; i < 3; i++) ba.failure(d);
      await eventually(() => bb.allow(d) === "open");
      await new Promise((r) => setTimeout(r, opts.cooldownMs + 20));
      assert.equal(ba.allow(d), "half_open", "the first caller after the cooldown gets the trial");
      assert.equal(ba.allow(d), "open", "only one trial at a time");
      ba.success(d);
      await eventually(() => bb.allow(d) === "closed");
      assert.equal(ba.allow(d), "closed");
      assert.equal(await a.failure(d, 1_000), 1, "closing forgot the old failures");
      await Promise.all([ba.stop(), bb.stop()]);
    });

    it("a failed trial opens it again for a full cooldown", async () => {
      const [a, b] = await replicas();
      const ba = await createBreakers(a, opts, noError);
      const bb = await createBreakers(b, opts, noError);
      const d = id();
      for (let i = 0; i < 3; i++) ba.failure(d);
      await eventually(() => ba.allow(d) === "open");
      await new Promise((r) => setTimeout(r, opts.cooldownMs + 20));
      assert.equal(ba.allow(d), "half_open");
      const before = Date.now();
      ba.failure(d);
      assert.equal(ba.allow(d), "open");
      await eventually(() => bb.openUntil(d) >= before + opts.cooldownMs);
      await Promise.all([ba.stop(), bb.stop()]);
    });

    it("a replica that starts later sees breakers already open", async () => {
      const [a, b] = await replicas();
      const ba = await createBreakers(a, opts, noError);
      const d = id();
      for (let i = 0; i < 3; i++) ba.failure(d);
      await eventually(() => ba.allow(d) === "open");
      const bb = await createBreakers(b, { ...opts }, noError);
      assert.equal(bb.allow(d), "open");
      await Promise.all([ba.stop(), bb.stop()]);
    });
  });
}
