import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LedgerCheck, Limiter, WindowCheck } from "./limiter.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A name no other test (or concurrent run on a shared Redis) uses. */
const uid = (label: string) => `${label}-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;

/** A time `offsetMs` into a window of `windowMs` that is current now. */
const inWindow = (windowMs: number, offsetMs: number) => Math.floor(Date.now() / windowMs) * windowMs + offsetMs;

/** Run `body` with limiters from `make`, closing them afterwards. */
async function using(make: () => Promise<Limiter>, count: number, body: (ls: Limiter[]) => Promise<void>): Promise<void> {
  const ls: Limiter[] = [];
  try {
    for (let i = 0; i < count; i++) ls.push(await make());
    await body(ls);
  } finally {
    await Promise.all(ls.map((l) => l.close()));
  }
}

/** Run `body` with one limiter. */
function withOne(make: () => Promise<Limiter>, body: (l: Limiter) => Promise<void>): () => Promise<void> {
  return () => using(make, 1, ([l]) => body(l as Limiter));
}

/**
 * What every limiter must do. Every limiter `make()` returns shares state with the others it
 * made, as replicas would (the same memory instance each time, or new Redis connections with
 * one prefix); the concurrency tests use two of them.
 */
export function limiterContract(name: string, make: () => Promise<Limiter>): void {
  describe(`limiter contract: ${name}`, () => {
    it("acquire adds to every window or to none, reporting the first full one", withOne(make, async (l) => {
      const now = inWindow(MINUTE, 10_000);
      const [a, b, c] = [uid("key"), uid("team"), uid("tenant")];
      const checks = (amount: number): WindowCheck[] => [
        { key: a, limit: 5, amount, windowMs: MINUTE },
        { key: b, limit: 2, amount, windowMs: MINUTE },
        { key: c, limit: 10, amount, windowMs: 1_000 },
      ];
      const first = await l.acquire(checks(1), now);
      assert.deepEqual(first, {
        ok: true,
        states: [
          { limit: 5, remaining: 4, resetMs: 50_000 },
          { limit: 2, remaining: 1, resetMs: 50_000 },
          { limit: 10, remaining: 9, resetMs: 1_000 },
        ],
      });
      const second = await l.acquire(checks(2), now + 400);
      assert.deepEqual(second, {
        ok: false,
        index: 1,
        retryAfterMs: 49_600,
        states: [
          { limit: 5, remaining: 4, resetMs: 49_600 },
          { limit: 2, remaining: 1, resetMs: 49_600 },
          { limit: 10, remaining: 9, resetMs: 600 },
        ],
      });
      assert.deepEqual(await l.peek(checks(0), now + 400), [1, 1, 1], "nothing was added anywhere");
      const firstFull = await l.acquire([{ key: a, limit: 1, amount: 1, windowMs: MINUTE }, ...checks(1)], now);
      assert.equal(firstFull.ok, false);
      assert.equal(!firstFull.ok && firstFull.index, 0);
      assert.deepEqual(await l.peek(checks(0), now), [1, 1, 1]);
    }));

    it("acquire counts a counter named twice in one call once per mention", withOne(make, async (l) => {
      const k = uid("dup");
      const check: WindowCheck = { key: k, limit: 3, amount: 2, windowMs: MINUTE };
      const r = await l.acquire([check, check]);
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.index, 1);
      assert.deepEqual(await l.peek([check]), [0]);
    }));

    it("windows roll over: a new window starts empty", withOne(make, async (l) => {
      const now = inWindow(1_000, 900);
      const check: WindowCheck = { key: uid("roll"), limit: 2, amount: 1, windowMs: 1_000 };
      assert.equal((await l.acquire([check], now)).ok, true);
      assert.equal((await l.acquire([check], now + 50)).ok, true);
      const full = await l.acquire([check], now + 60);
      assert.equal(full.ok, false);
      assert.equal(!full.ok && full.retryAfterMs, 40);
      const next = await l.acquire([check], now + 100);
      assert.deepEqual(next, { ok: true, states: [{ limit: 2, remaining: 1, resetMs: 1_000 }] });
      assert.deepEqual(await l.peek([check], now + 100), [1]);
      assert.deepEqual(await l.peek([check], now + 1_100), [0], "the window after that is empty too");
    }));

    it("adjust adds signed amounts and never goes below 0", withOne(make, async (l) => {
      const now = inWindow(MINUTE, 0);
      const key = uid("adj");
      const item = { key, windowMs: MINUTE };
      await l.adjust([{ ...item, amount: 5 }], now);
      await l.adjust([{ ...item, amount: -2 }], now);
      assert.deepEqual(await l.peek([item], now), [3]);
      await l.adjust([{ ...item, amount: -10 }], now);
      assert.deepEqual(await l.peek([item], now), [0], "floored at 0");
      await l.adjust([{ ...item, amount: 4 }], now);
      assert.deepEqual(await l.peek([item], now), [4], "grows again from 0");
      const full = await l.acquire([{ ...item, limit: 4, amount: 1 }], now);
      assert.equal(full.ok, false, "adjusted counts count against acquire");
      assert.deepEqual(full.states, [{ limit: 4, remaining: 0, resetMs: MINUTE }]);
      await l.adjust([{ key: uid("neg"), windowMs: MINUTE, amount: -3 }], now);
    }));

    it("peek reads each key's current window, 0 when unknown", withOne(make, async (l) => {
      const now = inWindow(MINUTE, 5);
      const [a, b] = [uid("pa"), uid("pb")];
      await l.acquire([{ key: a, limit: 10, amount: 3, windowMs: MINUTE }, { key: b, limit: 10, amount: 7, windowMs: MINUTE }], now);
      assert.deepEqual(
        await l.peek([{ key: b, windowMs: MINUTE }, { key: uid("none"), windowMs: MINUTE }, { key: a, windowMs: MINUTE }], now),
        [7, 0, 3],
      );
      assert.deepEqual(await l.peek([]), []);
    }));

    it("reserve is all-or-nothing across key, team and tenant ledgers", withOne(make, async (l) => {
      const now = Date.now();
      const [key, team, tenant] = [uid("lkey"), uid("lteam"), uid("ltenant")];
      const exp = now + HOUR;
      const checks = (amount: number): LedgerCheck[] => [
        { key, limit: 100, amount, expireAtMs: exp },
        { key: team, limit: 50, amount, expireAtMs: exp },
        { key: tenant, limit: 1_000, amount, expireAtMs: exp },
      ];
      await l.settle(uid("prior"), [{ key: team, amount: 45, expireAtMs: exp }], now);
      assert.deepEqual(await l.reserve(uid("r"), checks(10), MINUTE, now), { ok: false, index: 1, spent: 45, reserved: 0 });
      assert.deepEqual(await l.ledgers([key, team, tenant], now), [
        { spent: 0, reserved: 0 },
        { spent: 45, reserved: 0 },
        { spent: 0, reserved: 0 },
      ], "nothing reserved anywhere");
      assert.deepEqual(await l.reserve(uid("r"), checks(5), MINUTE, now), { ok: true });
      assert.deepEqual(await l.ledgers([key, team, tenant], now), [
        { spent: 0, reserved: 5 },
        { spent: 45, reserved: 5 },
        { spent: 0, reserved: 5 },
      ]);
      assert.deepEqual(await l.reserve(uid("r"), checks(1), MINUTE, now), { ok: false, index: 1, spent: 45, reserved: 5 });
    }));

    it("reservations count against the limit until settled; settle releases and adds actual", withOne(make, async (l) => {
      const now = Date.now();
      const [a, b] = [uid("la"), uid("lb")];
      const exp = now + HOUR;
      const r1 = uid("r1");
      assert.deepEqual(await l.reserve(r1, [{ key: a, limit: 10, amount: 6, expireAtMs: exp }, { key: b, limit: 100, amount: 6, expireAtMs: exp }], MINUTE, now), { ok: true });
      const r2: LedgerCheck[] = [{ key: a, limit: 10, amount: 5, expireAtMs: exp }];
      assert.deepEqual(await l.reserve(uid("r2"), r2, MINUTE, now), { ok: false, index: 0, spent: 0, reserved: 6 });
      const after = await l.settle(r1, [{ key: a, amount: 3, expireAtMs: exp }, { key: b, amount: 9, expireAtMs: exp }], now + 10);
      assert.equal(after.applied, true);
      assert.deepEqual(after.states, [{ spent: 3, reserved: 0 }, { spent: 9, reserved: 0 }], "less than reserved on a, more on b");
      assert.deepEqual(await l.reserve(uid("r2"), r2, MINUTE, now + 20), { ok: true });
      assert.deepEqual(await l.ledgers([a, b], now + 20), [{ spent: 3, reserved: 5 }, { spent: 9, reserved: 0 }]);
    }));

    it("reusing a live id reserves nothing more", withOne(make, async (l) => {
      const now = Date.now();
      const k = uid("reuse");
      const checks: LedgerCheck[] = [{ key: k, limit: 10, amount: 4, expireAtMs: now + HOUR }];
      const id = uid("r");
      assert.deepEqual(await l.reserve(id, checks, MINUTE, now), { ok: true });
      assert.deepEqual(await l.reserve(id, checks, MINUTE, now + 1), { ok: true });
      assert.deepEqual(await l.ledgers([k], now + 2), [{ spent: 0, reserved: 4 }]);
    }));

    it("settling twice adds nothing the second time", withOne(make, async (l) => {
      const now = Date.now();
      const k = uid("twice");
      const exp = now + HOUR;
      const id = uid("r");
      await l.reserve(id, [{ key: k, limit: 100, amount: 20, expireAtMs: exp }], MINUTE, now);
      const actual = [{ key: k, amount: 12, expireAtMs: exp }];
      assert.deepEqual(await l.settle(id, actual, now + 1), { applied: true, states: [{ spent: 12, reserved: 0 }] });
      assert.deepEqual(await l.settle(id, actual, now + 2), { applied: false, states: [{ spent: 12, reserved: 0 }] });
      assert.deepEqual(await l.ledgers([k], now + 3), [{ spent: 12, reserved: 0 }]);
    }));

    it("settling an unknown id still adds the actual spend (once)", withOne(make, async (l) => {
      const now = Date.now();
      const k = uid("unknown");
      const actual = [{ key: k, amount: 7, expireAtMs: now + HOUR }];
      const id = uid("never-reserved");
      assert.deepEqual(await l.settle(id, actual, now), { applied: true, states: [{ spent: 7, reserved: 0 }] });
      assert.deepEqual(await l.settle(id, actual, now + 1), { applied: false, states: [{ spent: 7, reserved: 0 }] });
    }));

    it("an expired reservation no longer counts, and settling it still adds the spend", withOne(make, async (l) => {
      const now = Date.now();
      const k = uid("expire");
      const exp = now + HOUR;
      const id = uid("r");
      const checks = (amount: number): LedgerCheck[] => [{ key: k, limit: 10, amount, expireAtMs: exp }];
      assert.deepEqual(await l.reserve(id, checks(8), 1_000, now), { ok: true });
      assert.deepEqual(await l.ledgers([k], now + 999), [{ spent: 0, reserved: 8 }]);
      assert.deepEqual(await l.ledgers([k], now + 1_000), [{ spent: 0, reserved: 0 }]);
      assert.deepEqual(await l.reserve(uid("r"), checks(10), 1_000, now + 1_001), { ok: true });
      assert.deepEqual((await l.settle(id, [{ key: k, amount: 2, expireAtMs: exp }], now + 1_002)).states, [{ spent: 2, reserved: 10 }]);
    }));

    it("ledgers reports spent and live reserved, zero for unknown ledgers", withOne(make, async (l) => {
      const now = Date.now();
      const [a, b] = [uid("sa"), uid("sb")];
      const exp = now + HOUR;
      await l.settle(uid("s"), [{ key: a, amount: 30, expireAtMs: exp }], now);
      await l.reserve(uid("r"), [{ key: a, limit: 100, amount: 11, expireAtMs: exp }], MINUTE, now);
      await l.reserve(uid("r"), [{ key: a, limit: 100, amount: 4, expireAtMs: exp }], 500, now);
      assert.deepEqual(await l.ledgers([a, b], now), [{ spent: 30, reserved: 15 }, { spent: 0, reserved: 0 }]);
      assert.deepEqual(await l.ledgers([a], now + 500), [{ spent: 30, reserved: 11 }]);
      assert.deepEqual(await l.ledgers([]), []);
    }));

    it("200 parallel acquires on two replicas against a limit of 25: exactly 25 succeed", () =>
      using(make, 2, async ([a, b]) => {
        const check: WindowCheck = { key: uid("burst"), limit: 25, amount: 1, windowMs: HOUR };
        const now = inWindow(HOUR, 1_000);
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) => ((i % 2 === 0 ? a : b) as Limiter).acquire([check], now)),
        );
        assert.equal(results.filter((r) => r.ok).length, 25);
        assert.deepEqual(await (a as Limiter).peek([check], now), [25]);
      }));

    it("200 parallel reserves of 7 on two replicas against a limit of 100: exactly 14 succeed", () =>
      using(make, 2, async ([a, b]) => {
        const now = Date.now();
        const k = uid("rburst");
        const checks: LedgerCheck[] = [{ key: k, limit: 100, amount: 7, expireAtMs: now + HOUR }];
        const results = await Promise.all(
          Array.from({ length: 200 }, (_, i) => ((i % 2 === 0 ? a : b) as Limiter).reserve(uid("r"), checks, MINUTE, now)),
        );
        assert.equal(results.filter((r) => r.ok).length, 14);
        assert.deepEqual(await (b as Limiter).ledgers([k], now), [{ spent: 0, reserved: 98 }]);
      }));

    it("seed starts a ledger's spend once: not over settled spend, not twice, reservations kept", withOne(make, async (l) => {
      const now = Date.now();
      const [fresh, settled] = [uid("seed"), uid("seed-settled")];
      const reserve = (key: string, id: string) => l.reserve(id, [{ key, limit: 960, amount: 40, expireAtMs: now + HOUR }], MINUTE, now);
      assert.deepEqual(await reserve(fresh, uid("r")), { ok: true });
      assert.equal(await l.seed(fresh, 900, now + HOUR, now), true);
      assert.deepEqual(await l.ledgers([fresh], now), [{ spent: 900, reserved: 40 }]);
      assert.equal(await l.seed(fresh, 5, now + HOUR, now), false, "a seeded ledger is not seeded again");
      const r = await reserve(fresh, uid("r"));
      assert.equal(r.ok, false, "the seeded spend counts against the limit: 900 spent + 40 reserved + 40 > 960");
      const id = uid("r");
      assert.deepEqual(await reserve(settled, id), { ok: true });
      await l.settle(id, [{ key: settled, amount: 30, expireAtMs: now + HOUR }], now);
      assert.equal(await l.seed(settled, 500, now + HOUR, now), false, "spend settled here wins over a seed");
      assert.deepEqual(await l.ledgers([settled], now), [{ spent: 30, reserved: 0 }]);
    }));

    it("20 parallel seeds on two replicas: one applies", () =>
      using(make, 2, async ([a, b]) => {
        const now = Date.now();
        const k = uid("seed-burst");
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => ((i % 2 === 0 ? a : b) as Limiter).seed(k, 100 + i, now + HOUR, now)));
        assert.equal(results.filter(Boolean).length, 1);
        const winner = results.indexOf(true);
        assert.deepEqual(await (a as Limiter).ledgers([k], now), [{ spent: 100 + winner, reserved: 0 }]);
      }));
  });
}
