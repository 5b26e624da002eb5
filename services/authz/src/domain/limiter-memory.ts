import type { AcquireResult, LedgerState, Limiter, WindowCheck, WindowState } from "./limiter.js";

/** How often (by the callers' clock) a call also sweeps out stale entries. */
const SWEEP_EVERY_MS = 5_000;

/** How long a settled id is remembered when its reservation is unknown (expired or never made). */
export const SETTLED_DEFAULT_TTL_MS = 10 * 60_000;

interface WindowEntry {
  count: number;
  endMs: number;
}

interface LedgerEntry {
  spent: number;
  /** Spend was settled or seeded (a ledger with reservations only has none yet). */
  hasSpent?: boolean;
  expireAtMs: number;
  /** Live reservations on this ledger: id → amount and expiry. */
  reservations: Map<string, { amount: number; expiresAtMs: number }>;
}

interface ReservationRecord {
  expiresAtMs: number;
  ttlMs: number;
  /** Ledger key → amount reserved there. */
  amounts: Map<string, number>;
}

/** Throw unless every amount is an integer (counters are integers in every implementation). */
export function assertIntegers(amounts: number[]): void {
  for (const a of amounts) {
    if (!Number.isSafeInteger(a)) throw new RangeError(`limiter amounts must be integers, got ${a}`);
  }
}

/** The start of the window of `windowMs` that holds `nowMs`. */
export function windowStart(nowMs: number, windowMs: number): number {
  return Math.floor(nowMs / windowMs) * windowMs;
}

/** A window's state given its use. */
export function windowState(limit: number, used: number, endMs: number, nowMs: number): WindowState {
  return { limit, remaining: Math.max(0, limit - used), resetMs: endMs - nowMs };
}

/**
 * Limiter state in this process, for the all-in-one build. Each operation runs synchronously
 * inside its async function, so it is atomic with respect to every other call. Stale windows,
 * expired ledgers, reservations and settled ids are dropped when touched and by a sweep that
 * piggybacks on calls every few seconds (no timer, so nothing keeps the process alive).
 */
export function createMemoryLimiter(): Limiter {
  const windows = new Map<string, WindowEntry>();
  const ledgerMap = new Map<string, LedgerEntry>();
  const records = new Map<string, ReservationRecord>();
  /** Settled id → until when it is remembered. */
  const settled = new Map<string, number>();
  let lastSweepMs = 0;

  const windowKey = (key: string, windowMs: number, nowMs: number) => `${key}\u0000${windowStart(nowMs, windowMs)}`;

  /** The count of a key's current window. */
  function used(key: string, windowMs: number, nowMs: number): number {
    const w = windows.get(windowKey(key, windowMs, nowMs));
    return w && w.endMs > nowMs ? w.count : 0;
  }

  /** Add to a key's current window, never below 0. */
  function add(key: string, windowMs: number, amount: number, nowMs: number): void {
    const k = windowKey(key, windowMs, nowMs);
    const endMs = windowStart(nowMs, windowMs) + windowMs;
    const count = Math.max(0, used(key, windowMs, nowMs) + amount);
    windows.set(k, { count, endMs });
  }

  /** A ledger with its expired reservations dropped; undefined when unknown or expired. */
  function ledger(key: string, nowMs: number): LedgerEntry | undefined {
    const l = ledgerMap.get(key);
    if (!l) return undefined;
    if (l.expireAtMs <= nowMs) {
      ledgerMap.delete(key);
      return undefined;
    }
    for (const [id, r] of l.reservations) if (r.expiresAtMs <= nowMs) l.reservations.delete(id);
    return l;
  }

  /** A ledger, created when missing; its expiry follows the latest caller. */
  function ledgerFor(key: string, expireAtMs: number, nowMs: number): LedgerEntry {
    const l = ledger(key, nowMs) ?? { spent: 0, expireAtMs, reservations: new Map() };
    l.expireAtMs = expireAtMs;
    ledgerMap.set(key, l);
    return l;
  }

  function ledgerState(key: string, nowMs: number): LedgerState {
    const l = ledger(key, nowMs);
    if (!l) return { spent: 0, reserved: 0 };
    let reserved = 0;
    for (const r of l.reservations.values()) reserved += r.amount;
    return { spent: l.spent, reserved };
  }

  /** Whether `id` is a live reservation or was settled recently. */
  function idInUse(id: string, nowMs: number): boolean {
    const rec = records.get(id);
    if (rec && rec.expiresAtMs > nowMs) return true;
    const until = settled.get(id);
    return until !== undefined && until > nowMs;
  }

  /** Drop what is stale, at most once per SWEEP_EVERY_MS of the callers' clock. */
  function maybeSweep(nowMs: number): void {
    if (Math.abs(nowMs - lastSweepMs) < SWEEP_EVERY_MS) return;
    lastSweepMs = nowMs;
    for (const [k, w] of windows) if (w.endMs <= nowMs) windows.delete(k);
    for (const key of [...ledgerMap.keys()]) ledger(key, nowMs);
    for (const [id, r] of records) if (r.expiresAtMs <= nowMs) records.delete(id);
    for (const [id, until] of settled) if (until <= nowMs) settled.delete(id);
  }

  /** Index of the first check without room, counting earlier checks of the same counter. */
  function firstFull(checks: WindowCheck[], nowMs: number): number {
    const pending = new Map<string, number>();
    for (const [i, c] of checks.entries()) {
      const k = windowKey(c.key, c.windowMs, nowMs);
      const p = pending.get(k) ?? 0;
      if (used(c.key, c.windowMs, nowMs) + p + c.amount > c.limit) return i;
      pending.set(k, p + c.amount);
    }
    return -1;
  }

  function states(checks: WindowCheck[], nowMs: number): WindowState[] {
    return checks.map((c) =>
      windowState(c.limit, used(c.key, c.windowMs, nowMs), windowStart(nowMs, c.windowMs) + c.windowMs, nowMs),
    );
  }

  return {
    async acquire(checks, nowMs = Date.now()): Promise<AcquireResult> {
      assertIntegers(checks.map((c) => c.amount));
      maybeSweep(nowMs);
      const index = firstFull(checks, nowMs);
      if (index >= 0) {
        const s = states(checks, nowMs);
        return { ok: false, index, retryAfterMs: s[index]?.resetMs ?? 0, states: s };
      }
      for (const c of checks) add(c.key, c.windowMs, c.amount, nowMs);
      return { ok: true, states: states(checks, nowMs) };
    },

    async adjust(items, nowMs = Date.now()) {
      assertIntegers(items.map((i) => i.amount));
      maybeSweep(nowMs);
      for (const i of items) add(i.key, i.windowMs, i.amount, nowMs);
    },

    async peek(items, nowMs = Date.now()) {
      return items.map((i) => used(i.key, i.windowMs, nowMs));
    },

    async reserve(id, checks, ttlMs, nowMs = Date.now()) {
      assertIntegers(checks.map((c) => c.amount));
      maybeSweep(nowMs);
      if (idInUse(id, nowMs)) return { ok: true };
      const pending = new Map<string, number>();
      for (const [index, c] of checks.entries()) {
        const s = ledgerState(c.key, nowMs);
        const p = pending.get(c.key) ?? 0;
        if (s.spent + s.reserved + p + c.amount > c.limit) return { ok: false, index, ...s };
        pending.set(c.key, p + c.amount);
      }
      const expiresAtMs = nowMs + ttlMs;
      for (const [key, amount] of pending) {
        const expireAtMs = Math.max(...checks.filter((c) => c.key === key).map((c) => c.expireAtMs));
        ledgerFor(key, expireAtMs, nowMs).reservations.set(id, { amount, expiresAtMs });
      }
      records.set(id, { expiresAtMs, ttlMs, amounts: pending });
      return { ok: true };
    },

    async settle(id, actual, nowMs = Date.now()) {
      assertIntegers(actual.map((a) => a.amount));
      maybeSweep(nowMs);
      const until = settled.get(id);
      const applied = until === undefined || until <= nowMs;
      if (applied) {
        const rec = records.get(id);
        for (const key of rec?.amounts.keys() ?? []) ledger(key, nowMs)?.reservations.delete(id);
        records.delete(id);
        settled.set(id, nowMs + (rec?.ttlMs ?? SETTLED_DEFAULT_TTL_MS));
        for (const a of actual) {
          if (a.amount === 0) continue;
          const l = ledgerFor(a.key, a.expireAtMs, nowMs);
          l.spent = Math.max(0, l.spent + a.amount);
          l.hasSpent = true;
        }
      }
      return { applied, states: actual.map((a) => ledgerState(a.key, nowMs)) };
    },

    async seed(key, amount, expireAtMs, nowMs = Date.now()) {
      assertIntegers([amount]);
      if (ledger(key, nowMs)?.hasSpent) return false;
      const l = ledgerFor(key, expireAtMs, nowMs);
      l.spent = Math.max(0, amount);
      l.hasSpent = true;
      return true;
    },

    async ledgers(keys, nowMs = Date.now()) {
      return keys.map((k) => ledgerState(k, nowMs));
    },

    async close() {},
  };
}
