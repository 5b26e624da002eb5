/**
 * The speed budget (DESIGN.md §6) and the final table, each figure next to its budget.
 */

/** What one target measured, as reported and written to .data/bench/latest.json. */
export interface TargetFigures {
  name: string;
  /** Processes whose CPU and memory were measured (the gateway's; for direct, the fake's). */
  processes: string[];
  latency: { p50: number; p90: number; p99: number; mean: number; requests: number };
  /** Gateway minus direct, at 1 connection. */
  added?: { p50: number; p99: number };
  throughput: { reqPerS: number; requests: number; connections: number; durationS: number };
  /** CPU ms per completed call during the throughput phase (all measured processes summed). */
  cpuMsPerCall?: number;
  /** The same, per process (the mesh's split between services). */
  cpuMsPerCallByProcess?: Record<string, number>;
  /** Resident memory at the end of the throughput phase: the sum, and per process. */
  rssMb?: number;
  rssPerProcessMb?: Record<string, number>;
  /** Summed RSS once ready, before any load (start-up cost: code, tsx's loader thread). */
  rssIdleMb?: number;
  /** Highest summed RSS sampled during the throughput phase. */
  rssPeakMb?: number;
  stream?: { n: number; ttfbP50: number; ttfbP99: number; totalP50: number; totalP99: number; addedTtfbP50?: number };
  failures: { non2xx: number; errors: number; timeouts: number; byPhase: Record<string, string> };
}

/** A budget for one topology; RSS is for the whole all-in-one, or per mesh service. */
export interface Budget {
  addedP50: number;
  addedP99: number;
  cpuMs: number;
  rssMb: number;
  rssPerService: boolean;
  ttftAdded: number;
}

/** DESIGN.md §6. */
export const BUDGETS: Record<string, Budget> = {
  "all-in-one": { addedP50: 0.3, addedP99: 1, cpuMs: 0.3, rssMb: 150, rssPerService: false, ttftAdded: 1 },
  mesh: { addedP50: 1, addedP99: 3, cpuMs: 0.8, rssMb: 120, rssPerService: true, ttftAdded: 2 },
};

/** A figure over its budget. */
export interface Over {
  target: string;
  figure: string;
  value: number;
  budget: number;
}

const f = (v: number | undefined, digits = 2) => (v === undefined || Number.isNaN(v) ? "—" : v.toFixed(digits));

function judged(value: number | undefined, budget: number | undefined, digits: number, over: Over[], target: string, figure: string): string {
  if (value === undefined || Number.isNaN(value)) return "—";
  if (budget === undefined) return f(value, digits);
  const ok = value <= budget;
  if (!ok) over.push({ target, figure, value, budget });
  return `${f(value, digits)} ≤${budget} ${ok ? "ok" : "OVER"}`;
}

/** The final table as text, and the figures over budget. */
export function renderTable(rows: TargetFigures[]): { text: string; over: Over[] } {
  const over: Over[] = [];
  const header = ["target", "p50 ms", "p99 ms", "added p50", "added p99", "req/s", "CPU ms/call", "RSS MB", "TTFB p50", "TTFT added p50", "failed"];
  const body = rows.map((r) => {
    const b = BUDGETS[r.name];
    const failed = r.failures.non2xx + r.failures.errors;
    let rss = "—";
    if (r.rssMb !== undefined) {
      const per = Object.values(r.rssPerProcessMb ?? {});
      if (b?.rssPerService) {
        const max = Math.max(...per);
        rss = `${f(r.rssMb, 0)} (max ${judged(max, b.rssMb, 0, over, r.name, "RSS MB per service")}/svc)`;
      } else rss = judged(r.rssMb, b?.rssMb, 0, over, r.name, "RSS MB");
    }
    return [
      r.name,
      f(r.latency.p50, 3),
      f(r.latency.p99, 3),
      r.added ? judged(r.added.p50, b?.addedP50, 3, over, r.name, "added p50 ms") : "—",
      r.added ? judged(r.added.p99, b?.addedP99, 3, over, r.name, "added p99 ms") : "—",
      f(r.throughput.reqPerS, 0),
      judged(r.cpuMsPerCall, b?.cpuMs, 3, over, r.name, "CPU ms/call"),
      rss,
      f(r.stream?.ttfbP50, 3),
      r.stream?.addedTtfbP50 !== undefined ? judged(r.stream.addedTtfbP50, b?.ttftAdded, 3, over, r.name, "TTFT added p50 ms") : "—",
      failed ? `${failed} FAILED` : "0",
    ];
  });
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const line = (row: string[]) => `| ${row.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  const sep = `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`;
  return { text: [line(header), sep, ...body.map(line)].join("\n"), over };
}
