import type { BudgetRow } from "./store.js";

/** The period of a budget that contains `nowMs`, or undefined when a custom budget is not active. */
export function currentPeriod(b: Pick<BudgetRow, "period" | "startsAt" | "endsAt">, nowMs: number): { startMs: number; endMs: number } | undefined {
  const d = new Date(nowMs);
  switch (b.period) {
    case "day": {
      const startMs = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
      return { startMs, endMs: startMs + 86_400_000 };
    }
    case "month":
      return { startMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), endMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
    case "custom": {
      const startMs = b.startsAt?.getTime() ?? 0;
      const endMs = b.endsAt?.getTime() ?? 0;
      return nowMs >= startMs && nowMs < endMs ? { startMs, endMs } : undefined;
    }
  }
}

/** Ledger names of a budget's period: dollars (micro-USD) and tokens. */
export function ledgerKeys(b: Pick<BudgetRow, "tenantId" | "id">, startMs: number): { usd: string; tokens: string } {
  return { usd: `budget:usd:${b.tenantId}:${b.id}:${startMs}`, tokens: `budget:tok:${b.tenantId}:${b.id}:${startMs}` };
}

/** How long a ledger is kept after its period ends (for ListBudgets and late settles). */
export const LEDGER_GRACE_MS = 7 * 86_400_000;

/** USD ⇄ the integer micro-dollars ledgers count in. */
export const toMicros = (usd: number): number => Math.round(usd * 1e6);
export const fromMicros = (m: number): number => m / 1e6;
