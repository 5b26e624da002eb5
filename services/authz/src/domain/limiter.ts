/**
 * Counters for rate limits, budgets and quotas: in memory all-in-one, Redis with Lua in the
 * mesh (atomic across every ingress/authz replica). Both pass one contract suite
 * (limiter-contract.ts). Every operation on several counters is all-or-nothing, so a burst of
 * parallel calls can never push any counter past its limit.
 *
 * Amounts are integers (requests, tokens, micro-dollars).
 */

/** A fixed window counter: at most `limit` per window of `windowMs`. */
export interface WindowCheck {
  /** Counter name without the window; the implementation appends the window start. */
  key: string;
  limit: number;
  amount: number;
  windowMs: number;
}

/** A window counter's state after an operation. */
export interface WindowState {
  limit: number;
  /** limit - used, never below 0. */
  remaining: number;
  /** Milliseconds until this window ends. */
  resetMs: number;
}

export type AcquireResult =
  | { ok: true; states: WindowState[] }
  /** `index`: the first check that had no room; nothing was added anywhere. */
  | { ok: false; index: number; retryAfterMs: number; states: WindowState[] };

/** A period ledger: settled spend plus live reservations must stay within `limit`. */
export interface LedgerCheck {
  /** Full ledger name (the caller puts the period in it). */
  key: string;
  limit: number;
  amount: number;
  /** When the ledger may be forgotten (period end plus a grace), Unix ms. */
  expireAtMs: number;
}

export type ReserveResult =
  | { ok: true }
  /** `index`: the first ledger without room; nothing was reserved anywhere. */
  | { ok: false; index: number; spent: number; reserved: number };

export interface LedgerState {
  spent: number;
  /** Sum of live (unexpired, unsettled) reservations. */
  reserved: number;
}

export interface Limiter {
  /** Add `amount` to every window when every one has room; otherwise add nothing. */
  acquire(checks: WindowCheck[], nowMs?: number): Promise<AcquireResult>;
  /**
   * Add signed amounts to the current windows without a limit check (token usage correction
   * after a call, failed-auth counts); a counter never goes below 0.
   */
  adjust(items: { key: string; amount: number; windowMs: number }[], nowMs?: number): Promise<void>;
  /** The current window's count of each key. */
  peek(items: { key: string; windowMs: number }[], nowMs?: number): Promise<number[]>;

  /**
   * Reserve `amount` on every ledger when every one has room (spent + reserved + amount <=
   * limit; a limit of 0 is never passed here); otherwise reserve nothing. The reservation is
   * released by settle, or by itself after `ttlMs` if never settled (a crashed caller).
   * Reusing an id that is still live replaces nothing and returns ok without reserving again.
   */
  reserve(id: string, checks: LedgerCheck[], ttlMs: number, nowMs?: number): Promise<ReserveResult>;
  /**
   * Release reservation `id` (if still live) and add the actual amounts to the ledgers'
   * spend. Settling twice adds nothing the second time: `applied` says whether this call did
   * (so callers can make their own follow-ups once). Returns each ledger's state after.
   */
  settle(id: string, actual: { key: string; amount: number; expireAtMs: number }[], nowMs?: number): Promise<{ applied: boolean; states: LedgerState[] }>;
  /**
   * Start a ledger's spend at `amount` (what metering stored for its period) unless the ledger
   * already has spend (settled here or by another replica): true when it did. Reservations are
   * left alone. See authz.seed_spend_from_metering.
   */
  seed(key: string, amount: number, expireAtMs: number, nowMs?: number): Promise<boolean>;
  /** Current state of ledgers (expired reservations not counted). */
  ledgers(keys: string[], nowMs?: number): Promise<LedgerState[]>;

  close(): Promise<void>;
}
