/**
 * A small time-bounded read-through cache for configuration rows. Entries live `ttlMs`
 * (so a change made on another replica is seen within that time); concurrent misses for one
 * key share one load; the map is bounded (cleared when it grows past `max`, a crude but
 * allocation-free bound: the working set reloads within one TTL).
 */
export interface TtlCache<V> {
  get(key: string, load: () => Promise<V>): Promise<V>;
  /** Forget one entry (after a local change of it). */
  delete(key: string): void;
  /** Forget everything (after a local admin change). */
  clear(): void;
}

export function createTtlCache<V>(ttlMs: number, max = 50_000, now: () => number = Date.now): TtlCache<V> {
  const entries = new Map<string, { at: number; value: Promise<V> }>();
  return {
    get(key, load) {
      const t = now();
      const e = entries.get(key);
      if (e && t - e.at < ttlMs) return e.value;
      if (entries.size >= max) entries.clear();
      const value = load();
      if (ttlMs > 0) {
        entries.set(key, { at: t, value });
        // A failed load is not cached.
        value.catch(() => {
          if (entries.get(key)?.value === value) entries.delete(key);
        });
      }
      return value;
    },
    delete(key) {
      entries.delete(key);
    },
    clear() {
      entries.clear();
    },
  };
}
