/**
 * Routing strategies: each orders a model's deployments for one call. The router tries them
 * in that order, falling back on retryable failures, so "which one first" and "what next"
 * are the same decision.
 */

/** Strategy names, as in the configuration. */
export type Strategy = "priority" | "weighted" | "least_latency" | "lowest_cost";

/** What a strategy knows of a deployment. */
export interface Candidate {
  id: string;
  weight: number;
  /** USD per million tokens, when the price table has the deployment's model. */
  price?: { input: number; output: number } | undefined;
}

/** What a strategy knows of the call. */
export interface CallShape {
  /** Characters of prompt text; tokens are estimated at four characters each. */
  promptChars: number;
  /** Output tokens asked for (max_tokens), when the caller set it. */
  maxTokens?: number | undefined;
}

/** Output tokens assumed for a cost estimate when the caller set no max_tokens. */
const DEFAULT_OUTPUT_TOKENS = 256;

/** Exponentially weighted moving average of latency per deployment. */
export function createLatencyTracker(alpha: number) {
  const ewma = new Map<string, number>();
  return {
    /** Record one call's latency (unary: the whole call; stream: time to first chunk). */
    record(id: string, ms: number): void {
      const prev = ewma.get(id);
      ewma.set(id, prev === undefined ? ms : alpha * ms + (1 - alpha) * prev);
    },
    /** The average, undefined before the first sample. */
    get: (id: string): number | undefined => ewma.get(id),
  };
}

/** The latency tracker's interface. */
export type LatencyTracker = ReturnType<typeof createLatencyTracker>;

/** Estimated cost in USD of a call on a deployment (Infinity when it has no price). */
export function estimateCost(c: Candidate, call: CallShape): number {
  if (!c.price) return Infinity;
  const input = Math.ceil(call.promptChars / 4);
  const output = call.maxTokens ?? DEFAULT_OUTPUT_TOKENS;
  return (input * c.price.input + output * c.price.output) / 1e6;
}

/**
 * Weighted random order without replacement: the first is drawn in proportion to weight,
 * then the next among the rest, and so on. Deployments of weight 0 come last, in order.
 */
export function weightedOrder<T extends Candidate>(list: readonly T[], random: () => number = Math.random): T[] {
  const pool = list.filter((c) => c.weight > 0);
  const out: T[] = [];
  while (pool.length > 0) {
    const total = pool.reduce((s, c) => s + c.weight, 0);
    let r = random() * total;
    let i = 0;
    while (i < pool.length - 1 && r >= pool[i]!.weight) r -= pool[i++]!.weight;
    out.push(pool.splice(i, 1)[0]!);
  }
  return out.concat(list.filter((c) => c.weight <= 0));
}

/**
 * Order candidates for one call. least_latency puts deployments without a sample first (so
 * each gets measured), then by EWMA; lowest_cost by estimated cost, unpriced last. Ties keep
 * the configured order.
 */
export function orderCandidates<T extends Candidate>(
  strategy: Strategy,
  list: readonly T[],
  ctx: { latency: LatencyTracker; call: CallShape; random?: () => number },
): T[] {
  switch (strategy) {
    case "priority":
      return [...list];
    case "weighted":
      return weightedOrder(list, ctx.random);
    case "least_latency":
      return stableSortBy(list, (c) => ctx.latency.get(c.id) ?? -1);
    case "lowest_cost":
      return stableSortBy(list, (c) => estimateCost(c, ctx.call));
  }
}

function stableSortBy<T>(list: readonly T[], key: (t: T) => number): T[] {
  return list
    .map((t, i) => ({ t, i, k: key(t) }))
    .sort((a, b) => (a.k === b.k ? a.i - b.i : a.k < b.k ? -1 : 1))
    .map((x) => x.t);
}
