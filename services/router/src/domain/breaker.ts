/**
 * Per-deployment circuit breakers. Retryable failures of a deployment are counted in a window;
 * at the threshold its breaker opens and the router skips it for the cooldown, then lets one
 * trial call through (half-open): success closes it, failure opens it again.
 *
 * The counts and the open state live in a {@link BreakerStore}: in memory all-in-one, in Redis
 * in the mesh so every router replica sees a breaker open within one pub/sub round trip. The
 * hot path never waits on the store: `allow` reads a local copy of the open state, which the
 * store keeps current through `watch`.
 */

/** Where breaker state is shared. Implementations: memory, Redis; one contract suite. */
export interface BreakerStore {
  /** Count one failure of `id` in the current window (which starts at its first failure); returns the count. */
  failure(id: string, windowMs: number): Promise<number>;
  /** Open `id` until `untilMs` (Unix ms) for every replica. */
  open(id: string, untilMs: number): Promise<void>;
  /** Close `id` for every replica and forget its failures. */
  close(id: string): Promise<void>;
  /** Called on every open (untilMs > 0) or close (untilMs = 0), this replica's included. */
  watch(onChange: (id: string, untilMs: number) => void): Promise<void>;
  /** Open-until of every deployment open now. */
  snapshot(): Promise<Map<string, number>>;
  stop(): Promise<void>;
}

/** Breaker settings (routing.circuit_breaker in the configuration). */
export interface BreakerOptions {
  failureThreshold: number;
  windowMs: number;
  cooldownMs: number;
}

/** What `allow` says about a deployment. */
export type BreakerState = "closed" | "open" | "half_open";

/** The breakers of one router replica. */
export interface Breakers {
  /** May a call go to `id` now? Claims the single half-open trial when it returns half_open. */
  allow(id: string, now?: number): BreakerState;
  /** Unix ms at which `id` half-opens (0 when closed). */
  openUntil(id: string): number;
  success(id: string): void;
  failure(id: string, now?: number): void;
  stop(): Promise<void>;
}

/** Breakers over a store; call `start` (or await the returned promise) before use. */
export async function createBreakers(store: BreakerStore, opts: BreakerOptions, onError: (err: unknown) => void): Promise<Breakers> {
  const openUntil = new Map<string, number>();
  /** Deployments whose half-open trial call is in flight on this replica. */
  const trials = new Set<string>();
  await store.watch((id, until) => {
    if (until > 0) openUntil.set(id, until);
    else openUntil.delete(id);
    trials.delete(id);
  });
  for (const [id, until] of await store.snapshot()) openUntil.set(id, until);

  const background = (p: Promise<unknown>) => p.catch(onError);

  return {
    allow(id, now = Date.now()) {
      const until = openUntil.get(id);
      if (until === undefined) return "closed";
      if (now < until || trials.has(id)) return "open";
      trials.add(id);
      return "half_open";
    },
    openUntil: (id) => openUntil.get(id) ?? 0,
    success(id) {
      if (!openUntil.has(id)) return;
      openUntil.delete(id);
      trials.delete(id);
      background(store.close(id));
    },
    failure(id, now = Date.now()) {
      if (trials.has(id)) {
        // The half-open trial failed: open again for a full cooldown.
        trials.delete(id);
        const until = now + opts.cooldownMs;
        openUntil.set(id, until);
        background(store.open(id, until));
        return;
      }
      background(
        store.failure(id, opts.windowMs).then(async (n) => {
          if (n >= opts.failureThreshold && !openUntil.has(id)) {
            const until = Date.now() + opts.cooldownMs;
            openUntil.set(id, until);
            await store.open(id, until);
          }
        }),
      );
    },
    stop: () => store.stop(),
  };
}

/** The all-in-one store: one process, so the "replicas" are the watchers of one instance. */
export function createMemoryBreakerStore(): BreakerStore {
  const failures = new Map<string, { count: number; windowEnd: number }>();
  const open = new Map<string, number>();
  const watchers: ((id: string, untilMs: number) => void)[] = [];
  const notify = (id: string, until: number) => watchers.forEach((w) => w(id, until));
  return {
    async failure(id, windowMs) {
      const now = Date.now();
      const f = failures.get(id);
      if (!f || now >= f.windowEnd) {
        failures.set(id, { count: 1, windowEnd: now + windowMs });
        return 1;
      }
      return ++f.count;
    },
    async open(id, untilMs) {
      open.set(id, untilMs);
      notify(id, untilMs);
    },
    async close(id) {
      open.delete(id);
      failures.delete(id);
      notify(id, 0);
    },
    async watch(onChange) {
      watchers.push(onChange);
    },
    async snapshot() {
      return new Map(open);
    },
    async stop() {
      watchers.length = 0;
    },
  };
}
