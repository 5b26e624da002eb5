import { create } from "@bufbuild/protobuf";
import { CostSchema, type RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";
import type { Logger, PriceTable } from "@tessera/runtime";

/** Prices request events before they are stored. */
export interface EventPricer {
  /** Set each event's cost from the price in force at the event's time. */
  price(events: readonly RequestEvent[]): void;
  /** Events stored without a price (cost 0), by "provider/model": a gap in `prices`. */
  unpriced(): ReadonlyMap<string, number>;
}

/**
 * The price of a call is looked up by the deployment that served it ("<provider id>/<provider
 * model>", as the price table is keyed); a call that never reached a provider is priced by the
 * model it asked for, which finds no price unless one is configured under that name, and costs
 * nothing. An unpriced model is not a failure: its calls cost 0, are counted, and the first of
 * each model is logged as a warning (then every 1000th, so a missing price stays visible
 * without flooding the log).
 */
export function createEventPricer(deps: { prices: PriceTable; log: Logger }): EventPricer {
  const unpriced = new Map<string, number>();
  return {
    price(events) {
      for (const e of events) {
        const slash = e.deployment.indexOf("/");
        const provider = slash < 0 ? e.provider : e.deployment.slice(0, slash);
        const model = slash < 0 ? e.modelServed || e.modelRequested : e.deployment.slice(slash + 1);
        const c = deps.prices.breakdown(provider, model, e, Number(e.timeUnixMs));
        e.cost = create(CostSchema, { inputPicoUsd: c.input, outputPicoUsd: c.output, cachedPicoUsd: c.cached, reasoningPicoUsd: c.reasoning, priced: c.priced });
        const tokens = e.promptTokens + e.completionTokens;
        if (c.priced || tokens === 0) continue;
        const key = `${provider}/${model}`;
        const n = (unpriced.get(key) ?? 0) + 1;
        unpriced.set(key, n);
        if (n % 1000 === 1) deps.log.warn({ provider, model, unpricedCalls: n }, "no price for a model in prices[]: its calls are stored with cost 0");
      }
    },
    unpriced: () => unpriced,
  };
}
