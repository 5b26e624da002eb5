import { Redis } from "ioredis";

/**
 * Where tokenised values wait for the answer: placeholder → original, per call, for a short
 * TTL. In memory all-in-one (one object shared by redaction and ingress), in Redis in the
 * mesh. Values are never logged; a vault entry is only ever read by the call that wrote it
 * (its id is the call's request id).
 */
export interface Vault {
  put(id: string, tokens: ReadonlyMap<string, string>, ttlMs: number): Promise<void>;
  /** The call's tokens (empty when none or expired). */
  get(id: string): Promise<Map<string, string>>;
  delete(id: string): Promise<void>;
  close(): Promise<void>;
}

/** An in-memory vault with TTLs, bounded (oldest entries go first past `max`). */
export function createMemoryVault(max = 100_000): Vault {
  const entries = new Map<string, { until: number; tokens: Map<string, string> }>();
  return {
    async put(id, tokens, ttlMs) {
      if (entries.size >= max) entries.delete(entries.keys().next().value!);
      entries.set(id, { until: Date.now() + ttlMs, tokens: new Map(tokens) });
    },
    async get(id) {
      const e = entries.get(id);
      if (!e) return new Map();
      if (e.until <= Date.now()) {
        entries.delete(id);
        return new Map();
      }
      return new Map(e.tokens);
    },
    async delete(id) {
      entries.delete(id);
    },
    async close() {
      entries.clear();
    },
  };
}

/** A vault in Redis: one key per call, `SET … PX ttl`, JSON of the token pairs. */
export function createRedisVault(url: string, prefix: string): Vault {
  const redis = new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
  const key = (id: string) => `${prefix}vault:${id}`;
  return {
    async put(id, tokens, ttlMs) {
      await redis.set(key(id), JSON.stringify([...tokens]), "PX", ttlMs);
    },
    async get(id) {
      const v = await redis.get(key(id));
      if (!v) return new Map();
      try {
        return new Map(JSON.parse(v) as [string, string][]);
      } catch {
        return new Map();
      }
    },
    async delete(id) {
      await redis.del(key(id));
    },
    async close() {
      await redis.quit().catch(() => undefined);
    },
  };
}
