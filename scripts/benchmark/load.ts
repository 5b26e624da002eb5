/**
 * The load the benchmark applies: autocannon for fixed-duration latency and throughput runs,
 * and a sequential undici loop for streamed time to first byte (autocannon only sees whole
 * responses). Every run is bounded and loopback only.
 */
import autocannon from "autocannon";
import { Client } from "undici";

/** Where to send chat completions and how. */
export interface Endpoint {
  /** Origin, e.g. http://127.0.0.1:1234 */
  origin: string;
  path: string;
  headers: Record<string, string>;
  /** The request body; `stream` selects SSE. */
  body(stream: boolean): string;
}

/** Failures seen during a run. A clean run has all zeros. */
export interface Failures {
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Status codes other than 2xx with their counts. */
  statuses: Record<string, number>;
}

/** What one autocannon run measured. */
export interface CannonResult {
  /** Completed responses (any status). */
  requests: number;
  durationS: number;
  reqPerS: number;
  /** Latency percentiles in ms from our own sample of every 2xx response (sub-ms precision). */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  failures: Failures;
}

/** The p-th percentile (0..100) of ascending-sorted values, nearest-rank. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * Run autocannon for `durationS` with `connections` keep-alive connections. Latency comes
 * from the per-response `response` event (float ms from process.hrtime): autocannon's own
 * histogram stores whole milliseconds, too coarse for sub-millisecond budgets.
 */
export function cannon(ep: Endpoint, o: { connections: number; durationS: number }): Promise<CannonResult> {
  const samples: number[] = [];
  const statuses: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const inst = autocannon(
      {
        url: `${ep.origin}${ep.path}`,
        method: "POST",
        headers: { "content-type": "application/json", ...ep.headers },
        body: ep.body(false),
        connections: o.connections,
        pipelining: 1,
        duration: o.durationS,
        timeout: 10,
      },
      (err: unknown, r: autocannon.Result) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        samples.sort((a, b) => a - b);
        const mean = samples.reduce((a, b) => a + b, 0) / (samples.length || 1);
        resolve({
          requests: r.requests.total,
          durationS: r.duration,
          reqPerS: r.requests.total / r.duration,
          p50: percentile(samples, 50),
          p90: percentile(samples, 90),
          p99: percentile(samples, 99),
          mean,
          failures: { non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts, statuses },
        });
      },
    );
    inst.on("response", (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) samples.push(responseTime);
      else statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    });
  });
}

/** What the streaming loop measured. */
export interface StreamResult {
  n: number;
  /** Time to the first body byte, ms. */
  ttfbP50: number;
  ttfbP99: number;
  /** Time to the end of the stream, ms. */
  totalP50: number;
  totalP99: number;
  failures: Failures;
}

/**
 * `n` sequential `stream:true` calls on one keep-alive connection, timing the first body
 * chunk and the end. The first `warm` calls are not counted.
 */
export async function streamLoop(ep: Endpoint, o: { n: number; warm: number; timeoutMs?: number }): Promise<StreamResult> {
  const client = new Client(ep.origin, { keepAliveTimeout: 30_000, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const body = ep.body(true);
  const headers = { "content-type": "application/json", accept: "text/event-stream", ...ep.headers };
  const ttfb: number[] = [];
  const total: number[] = [];
  const failures: Failures = { non2xx: 0, errors: 0, timeouts: 0, statuses: {} };
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  try {
    for (let i = 0; i < o.warm + o.n && Date.now() < deadline; i++) {
      const t0 = performance.now();
      let first = 0;
      let text = "";
      try {
        const res = await client.request({ method: "POST", path: ep.path, headers, body });
        for await (const chunk of res.body) {
          if (!first) first = performance.now();
          text += (chunk as Buffer).toString("utf8");
        }
        const end = performance.now();
        if (res.statusCode < 200 || res.statusCode >= 300) {
          failures.non2xx++;
          failures.statuses[res.statusCode] = (failures.statuses[res.statusCode] ?? 0) + 1;
          continue;
        }
        if (!text.includes("data: [DONE]")) {
          failures.errors++;
          continue;
        }
        if (i >= o.warm) {
          ttfb.push(first - t0);
          total.push(end - t0);
        }
      } catch (err) {
        failures.errors++;
        if ((err as { code?: string }).code?.includes("TIMEOUT")) failures.timeouts++;
      }
    }
  } finally {
    await client.close().catch(() => {});
  }
  ttfb.sort((a, b) => a - b);
  total.sort((a, b) => a - b);
  return {
    n: ttfb.length,
    ttfbP50: percentile(ttfb, 50),
    ttfbP99: percentile(ttfb, 99),
    totalP50: percentile(total, 50),
    totalP99: percentile(total, 99),
    failures,
  };
}

/** One call, checking the answer is a 200 with the fake's echo in it (fails fast before load). */
export async function probe(ep: Endpoint): Promise<void> {
  const client = new Client(ep.origin, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  try {
    const res = await client.request({
      method: "POST",
      path: ep.path,
      headers: { "content-type": "application/json", ...ep.headers },
      body: ep.body(false),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 || !text.includes("Echo: hello"))
      throw new Error(`probe of ${ep.origin}${ep.path} got ${res.statusCode}: ${text.slice(0, 300)}`);
  } finally {
    await client.close().catch(() => {});
  }
}
