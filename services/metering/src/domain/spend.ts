import { TesseraError } from "@tessera/runtime";
import type { Dimension, UsageStore } from "@tessera/usage-store";

/** Whose spend a budget counts, as the usage store can tell: tenant, team or key. */
export type SpendScope = "tenant" | "team" | "key";

/** A subject's stored spend over a range. */
export interface Spend {
  /** Exact, in pico-dollars. */
  picoUsd: bigint;
  /** Prompt plus completion tokens. */
  tokens: number;
  requests: number;
}

const DIMENSION: Record<SpendScope, Dimension> = { tenant: "tenant", team: "team", key: "key" };

/**
 * What a tenant, team or key spent since an instant, from the stored (priced) events: authz
 * starts a cold budget ledger from it (authz.seed_spend_from_metering), so a restart that
 * loses the counters does not reset the budgets. Answered from the rollups when they serve.
 */
export function createSpendReader(deps: { store: UsageStore; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return async function spend(tenantId: string, scope: SpendScope, scopeId: string, sinceMs: number): Promise<Spend> {
    if (!tenantId) throw new TesseraError("invalid_request", "tenant_id is required.", { param: "tenant_id", code: "invalid_field" });
    if (scope !== "tenant" && !scopeId) throw new TesseraError("invalid_request", `scope_id is required for the ${scope} scope.`, { param: "scope_id", code: "invalid_field" });
    const toMs = now() + 1;
    if (!(sinceMs >= 0 && sinceMs < toMs)) throw new TesseraError("invalid_request", "since_unix_ms must be in the past.", { param: "since_unix_ms", code: "invalid_field" });
    const filters: Partial<Record<Dimension, string[]>> = { tenant: [tenantId] };
    if (scope !== "tenant") filters[DIMENSION[scope]] = [scopeId];
    const r = await deps.store.queryUsage({ fromMs: sinceMs, toMs, groupBy: [], bucket: "none", filters, orderBy: "cost", limit: 0 });
    const out: Spend = { picoUsd: 0n, tokens: 0, requests: 0 };
    for (const row of r.rows) {
      out.picoUsd += row.cost.input + row.cost.output + row.cost.cached + row.cost.reasoning;
      out.tokens += row.promptTokens + row.completionTokens;
      out.requests += row.requests;
    }
    return out;
  };
}

/** The spend reader of a metering instance. */
export type SpendReader = ReturnType<typeof createSpendReader>;
