import { Redis } from "ioredis";
import { assertIntegers, SETTLED_DEFAULT_TTL_MS, windowStart, windowState } from "../domain/limiter-memory.js";
import type { AcquireResult, LedgerState, Limiter, ReserveResult, WindowCheck } from "../domain/limiter.js";

/** How long a window key outlives its window, so a replica whose clock lags still reads it. */
const WINDOW_GRACE_MS = 5_000;
/** How long reservation records and settled markers outlive their ttl in Redis (liveness is by nowMs). */
const RECORD_GRACE_MS = 60_000;

/** Lua shared by the scripts: integers formatted without exponents; purge, release and read a ledger. */
const LUA_HELPERS = `
local function int(x) return string.format('%d', x) end
local function num(x) return tonumber(x or '0') end
local function purge(h, z, now)
  local ids = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, id in ipairs(ids) do
    local a = redis.call('HGET', h, 'r:' .. id)
    if a then
      redis.call('HINCRBY', h, 'reserved', int(-tonumber(a)))
      redis.call('HDEL', h, 'r:' .. id)
    end
  end
  if #ids > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
end
local function release(h, z, id)
  local a = redis.call('HGET', h, 'r:' .. id)
  if a then
    redis.call('HINCRBY', h, 'reserved', int(-tonumber(a)))
    redis.call('HDEL', h, 'r:' .. id)
  end
  redis.call('ZREM', z, id)
end
local function state(h)
  local v = redis.call('HMGET', h, 'spent', 'reserved')
  return num(v[1]), num(v[2])
end
`;

/**
 * KEYS: window keys. ARGV: grace, then (limit, amount, windowMs) per key.
 * Checks every window (counting earlier checks of the same key), then INCRBYs all or none.
 * Returns {first failing index (1-based) or 0, count of each key after}.
 */
const ACQUIRE_LUA = `${LUA_HELPERS}
local grace = tonumber(ARGV[1])
local used, pending, fail = {}, {}, 0
for i = 1, #KEYS do
  local k = KEYS[i]
  if used[k] == nil then used[k] = num(redis.call('GET', k)) end
  local limit, amount = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
  local p = pending[k] or 0
  if fail == 0 and used[k] + p + amount > limit then fail = i end
  pending[k] = p + amount
end
if fail == 0 then
  for i = 1, #KEYS do
    redis.call('INCRBY', KEYS[i], ARGV[3 * i])
    redis.call('PEXPIRE', KEYS[i], int(tonumber(ARGV[3 * i + 1]) + grace))
  end
end
local out = {fail}
for i = 1, #KEYS do out[i + 1] = num(redis.call('GET', KEYS[i])) end
return out`;

/** KEYS: window keys. ARGV: grace, then (amount, windowMs) per key. Adds, flooring at 0. */
const ADJUST_LUA = `${LUA_HELPERS}
local grace = tonumber(ARGV[1])
for i = 1, #KEYS do
  local v = num(redis.call('GET', KEYS[i])) + tonumber(ARGV[2 * i])
  if v < 0 then v = 0 end
  redis.call('SET', KEYS[i], int(v), 'PX', int(tonumber(ARGV[2 * i + 1]) + grace))
end
return 0`;

/**
 * KEYS: reservation record, settled marker, then (ledger hash, ledger zset) per check.
 * ARGV: id, now, ttl, record grace, then (ledger name, limit, amount, expireAtMs) per check.
 * Returns {1} when reserved (or the id is live or settled), else {0, index (1-based), spent, reserved}.
 */
const RESERVE_LUA = `${LUA_HELPERS}
local res, mark = KEYS[1], KEYS[2]
local id, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local live = redis.call('HGET', res, 'exp')
if live and tonumber(live) > now then return {1} end
local m = redis.call('GET', mark)
if m and tonumber(m) > now then return {1} end
local n = (#KEYS - 2) / 2
local pending = {}
for i = 1, n do
  local h, z, o = KEYS[2 * i + 1], KEYS[2 * i + 2], 4 * i
  purge(h, z, ARGV[2])
  local spent, reserved = state(h)
  local p, amount = pending[h] or 0, tonumber(ARGV[o + 3])
  if spent + reserved + p + amount > tonumber(ARGV[o + 2]) then return {0, i, spent, reserved} end
  pending[h] = p + amount
end
redis.call('DEL', res)
local expires = int(now + ttl)
for i = 1, n do
  local h, z, o = KEYS[2 * i + 1], KEYS[2 * i + 2], 4 * i
  redis.call('HINCRBY', h, 'reserved', ARGV[o + 3])
  redis.call('HINCRBY', h, 'r:' .. id, ARGV[o + 3])
  redis.call('ZADD', z, expires, id)
  redis.call('PEXPIREAT', h, ARGV[o + 4])
  redis.call('PEXPIREAT', z, ARGV[o + 4])
  redis.call('HINCRBY', res, 'l:' .. ARGV[o + 1], ARGV[o + 3])
end
redis.call('HSET', res, 'exp', expires, 'ttl', int(ttl))
redis.call('PEXPIRE', res, int(ttl + tonumber(ARGV[4])))
return {1}`;

/**
 * KEYS: reservation record, settled marker, then (ledger hash, ledger zset) per actual.
 * ARGV: id, now, ledger key base, default marker ttl, marker grace, then (amount, expireAtMs)
 * per actual. Unless already settled: marks the id settled, releases the reservation from the
 * ledgers its record names (keys built from the base), adds the actual spend. Returns
 * {applied (1/0), then spent, reserved per actual ledger}.
 */
const SETTLE_LUA = `${LUA_HELPERS}
local res, mark = KEYS[1], KEYS[2]
local id, now = ARGV[1], tonumber(ARGV[2])
local n = (#KEYS - 2) / 2
local m = redis.call('GET', mark)
local applied = 0
if not (m and tonumber(m) > now) then
  applied = 1
  local ttl = tonumber(ARGV[4])
  local rec = redis.call('HGETALL', res)
  for j = 1, #rec, 2 do
    local f = rec[j]
    if f == 'ttl' then
      ttl = tonumber(rec[j + 1])
    elseif string.sub(f, 1, 2) == 'l:' then
      local name = string.sub(f, 3)
      release(ARGV[3] .. 'lh:' .. name, ARGV[3] .. 'lz:' .. name, id)
    end
  end
  redis.call('DEL', res)
  redis.call('SET', mark, int(now + ttl), 'PX', int(ttl + tonumber(ARGV[5])))
  for i = 1, n do
    local h, o = KEYS[2 * i + 1], 5 + 2 * (i - 1)
    if tonumber(ARGV[o + 1]) ~= 0 then
      if redis.call('HINCRBY', h, 'spent', ARGV[o + 1]) < 0 then redis.call('HSET', h, 'spent', 0) end
      redis.call('PEXPIREAT', h, ARGV[o + 2])
    end
  end
end
local out = {applied}
for i = 1, n do
  purge(KEYS[2 * i + 1], KEYS[2 * i + 2], ARGV[2])
  out[2 * i], out[2 * i + 1] = state(KEYS[2 * i + 1])
end
return out`;

/** KEYS: (ledger hash, ledger zset) per ledger. ARGV: now. Purges, returns {spent, reserved} each. */
const LEDGERS_LUA = `${LUA_HELPERS}
local out = {}
for i = 1, #KEYS / 2 do
  purge(KEYS[2 * i - 1], KEYS[2 * i], ARGV[1])
  out[2 * i - 1], out[2 * i] = state(KEYS[2 * i - 1])
end
return out`;

type Arg = string | number;
/** The scripts as ioredis commands: the first argument is the number of keys. */
/** KEYS: ledger hash. ARGV: amount, expireAt. Sets spent only where no spend exists; 1 when it did. */
const SEED_LUA = `
if redis.call('HSETNX', KEYS[1], 'spent', ARGV[1]) == 1 then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

interface LimiterCommands {
  tesseraLimSeed(numKeys: number, ...args: Arg[]): Promise<number>;
  tesseraLimAcquire(numKeys: number, ...args: Arg[]): Promise<number[]>;
  tesseraLimAdjust(numKeys: number, ...args: Arg[]): Promise<number>;
  tesseraLimReserve(numKeys: number, ...args: Arg[]): Promise<number[]>;
  tesseraLimSettle(numKeys: number, ...args: Arg[]): Promise<number[]>;
  tesseraLimLedgers(numKeys: number, ...args: Arg[]): Promise<number[]>;
}

/** Pairs of a flat [spent, reserved, spent, reserved, …] reply. */
function ledgerStates(flat: number[]): LedgerState[] {
  const out: LedgerState[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ spent: Number(flat[i]), reserved: Number(flat[i + 1]) });
  return out;
}

/**
 * Limiter state in Redis, for the mesh: every operation on several counters is one Lua script,
 * so it is atomic across all replicas.
 *
 * Layout (all under `${prefix}lim:`): a window is a string counter `w:<key>:<windowStart>` that
 * expires a grace after its window; a ledger is a hash `lh:<key>` (spent, reserved total, and
 * `r:<id>` → amount per live reservation) plus a zset `lz:<key>` of reservation ids scored by
 * expiry, purged on every touch; a reservation is a hash `res:<id>` naming its ledgers and
 * amounts, and a settled id is a marker `set:<id>`.
 *
 * Time comes from `nowMs` (the caller's clock, default Date.now()), not Redis TIME, so tests can
 * move it; replicas therefore need roughly synchronised clocks (NTP) — a skew shifts window
 * boundaries and reservation expiry by that much. Ledger keys expire at the caller's
 * `expireAtMs` (PEXPIREAT, Redis clock).
 *
 * Redis Cluster: the keys of one call would need a common hash tag, and settle builds the
 * ledger keys of a reservation inside the script; this build targets a single Redis (or
 * Sentinel), where neither matters.
 */
export function createRedisLimiter(opts: { url: string; prefix: string }): Limiter {
  const redis = new Redis(opts.url, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
  redis.defineCommand("tesseraLimAcquire", { lua: ACQUIRE_LUA });
  redis.defineCommand("tesseraLimAdjust", { lua: ADJUST_LUA });
  redis.defineCommand("tesseraLimReserve", { lua: RESERVE_LUA });
  redis.defineCommand("tesseraLimSettle", { lua: SETTLE_LUA });
  redis.defineCommand("tesseraLimLedgers", { lua: LEDGERS_LUA });
  redis.defineCommand("tesseraLimSeed", { lua: SEED_LUA });
  const cmd = redis as unknown as LimiterCommands;

  const base = `${opts.prefix}lim:`;
  const windowKey = (key: string, windowMs: number, nowMs: number) => `${base}w:${key}:${windowStart(nowMs, windowMs)}`;
  const ledgerKeys = (key: string) => [`${base}lh:${key}`, `${base}lz:${key}`];
  const resKey = (id: string) => `${base}res:${id}`;
  const markKey = (id: string) => `${base}set:${id}`;

  /** States of windows from their counts. */
  const windowStates = (checks: WindowCheck[], counts: number[], nowMs: number) =>
    checks.map((c, i) => windowState(c.limit, Number(counts[i] ?? 0), windowStart(nowMs, c.windowMs) + c.windowMs, nowMs));

  return {
    async acquire(checks, nowMs = Date.now()): Promise<AcquireResult> {
      assertIntegers(checks.map((c) => c.amount));
      if (checks.length === 0) return { ok: true, states: [] };
      const keys = checks.map((c) => windowKey(c.key, c.windowMs, nowMs));
      const args = checks.flatMap((c) => [c.limit, c.amount, c.windowMs]);
      const [fail = 0, ...counts] = await cmd.tesseraLimAcquire(keys.length, ...keys, WINDOW_GRACE_MS, ...args);
      const states = windowStates(checks, counts, nowMs);
      if (Number(fail) === 0) return { ok: true, states };
      const index = Number(fail) - 1;
      return { ok: false, index, retryAfterMs: states[index]?.resetMs ?? 0, states };
    },

    async adjust(items, nowMs = Date.now()) {
      assertIntegers(items.map((i) => i.amount));
      if (items.length === 0) return;
      const keys = items.map((i) => windowKey(i.key, i.windowMs, nowMs));
      await cmd.tesseraLimAdjust(keys.length, ...keys, WINDOW_GRACE_MS, ...items.flatMap((i) => [i.amount, i.windowMs]));
    },

    async peek(items, nowMs = Date.now()) {
      if (items.length === 0) return [];
      const values = await redis.mget(...items.map((i) => windowKey(i.key, i.windowMs, nowMs)));
      return values.map((v) => Number(v ?? 0));
    },

    async reserve(id, checks, ttlMs, nowMs = Date.now()): Promise<ReserveResult> {
      assertIntegers(checks.map((c) => c.amount));
      const keys = [resKey(id), markKey(id), ...checks.flatMap((c) => ledgerKeys(c.key))];
      const args = checks.flatMap((c) => [c.key, c.limit, c.amount, c.expireAtMs]);
      const [ok, index = 1, spent = 0, reserved = 0] = await cmd.tesseraLimReserve(
        keys.length, ...keys, id, nowMs, ttlMs, RECORD_GRACE_MS, ...args,
      );
      if (Number(ok) === 1) return { ok: true };
      return { ok: false, index: Number(index) - 1, spent: Number(spent), reserved: Number(reserved) };
    },

    async settle(id, actual, nowMs = Date.now()) {
      assertIntegers(actual.map((a) => a.amount));
      const keys = [resKey(id), markKey(id), ...actual.flatMap((a) => ledgerKeys(a.key))];
      const args = actual.flatMap((a) => [a.amount, a.expireAtMs]);
      const [applied, ...flat] = await cmd.tesseraLimSettle(keys.length, ...keys, id, nowMs, base, SETTLED_DEFAULT_TTL_MS, RECORD_GRACE_MS, ...args);
      return { applied: Number(applied) === 1, states: ledgerStates(flat) };
    },

    async seed(key, amount, expireAtMs) {
      assertIntegers([amount]);
      return Number(await cmd.tesseraLimSeed(1, ledgerKeys(key)[0]!, Math.max(0, amount), expireAtMs)) === 1;
    },

    async ledgers(keys, nowMs = Date.now()) {
      const redisKeys = keys.flatMap(ledgerKeys);
      return ledgerStates(await cmd.tesseraLimLedgers(redisKeys.length, ...redisKeys, nowMs));
    },

    async close() {
      await redis.quit().catch(() => undefined);
    },
  };
}
