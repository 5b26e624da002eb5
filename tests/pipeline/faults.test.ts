import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { TEST_ENV, testConfigYaml } from "../helpers/config.js";
import { startTestBroker, type TestBroker } from "../helpers/kafka-broker.js";
import { eventually, MESH_SERVICES, meshPorts, meshYaml, requireEnv, startMesh, startService, waitHealthy, type Proc } from "../helpers/procs.js";

const KEYS = { a: "tk-pipe-a-0123456789", b: "tk-pipe-b-0123456789", c: "tk-pipe-c-0123456789" } as const;

/**
 * The event pipeline under the failures real pipelines meet, end to end: the gateway's six
 * processes, a Kafka broker of the test's own (so it can be stopped without touching the
 * shared one) and the real ClickHouse. Each scenario uses its own tenant and checks exact
 * counts in the raw table and in the per-minute rollup (which counts every insert, so a
 * duplicate would show there).
 */
describe("event pipeline under faults: gateway → Kafka → metering → ClickHouse", { timeout: 480_000 }, () => {
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const database = `tessera_pipe_${suffix}`;
  let broker: TestBroker;
  let ch: ClickHouseClient;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let procs: Proc[] = [];
  let metering: Proc;
  let meteringPort = 0;
  let ingressUrl = "";

  before(async () => {
    const clickhouse = requireEnv("TESSERA_TEST_CLICKHOUSE_URL");
    ch = createClient({ url: clickhouse, compression: { request: false, response: false } });
    broker = await startTestBroker();
    dir = mkdtempSync(join(tmpdir(), "tessera-pipe-"));
    const ports = await meshPorts();
    meteringPort = ports.metering;
    const yaml = testConfigYaml({
      fakeUrl: "http://127.0.0.1:1/v1",
      port: ports.ingress,
      keys: Object.keys(KEYS)
        .map((t) => `  - { id: pipe-${t}, tenant: pipe-${t}-${suffix}, key_env: TESSERA_PIPE_${t.toUpperCase()} }`)
        .join("\n"),
      extra: `
events: { kind: kafka, brokers: ["${broker.brokers}"], topic: "tessera.requests.pipe-${suffix}", group_id: "metering-${suffix}", spool: { dir: "${join(dir, "spool")}" } }
metering: { batch_max_events: 500, batch_max_ms: 200 }
usage_store: { kind: clickhouse, url: "${clickhouse}", database: ${database} }
${meshYaml(ports)}`,
    });
    writeFileSync(join(dir, "tessera.yaml"), yaml);
    env = {
      ...TEST_ENV,
      TESSERA_PIPE_A: KEYS.a,
      TESSERA_PIPE_B: KEYS.b,
      TESSERA_PIPE_C: KEYS.c,
      TESSERA_CONFIG: join(dir, "tessera.yaml"),
      TESSERA_LOG_LEVEL: "warn",
    };
    procs = await startMesh(ports, env, 90_000);
    metering = procs[MESH_SERVICES.indexOf("metering")]!;
    ingressUrl = `http://127.0.0.1:${ports.ingress}`;
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await broker?.close();
    await ch?.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Resolves once the process has exited (at once if it already has). */
  function exited(p: Proc): Promise<void> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve();
    return new Promise((r) => p.child.once("exit", () => r()));
  }

  /** One chat call as tenant `t`; its request id. The answer must not wait for Kafka. */
  async function call(t: keyof typeof KEYS): Promise<string> {
    const res = await fetch(`${ingressUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEYS[t]}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "demo", messages: [{ role: "user", content: "count me once" }] }),
    });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    return res.headers.get("x-request-id")!;
  }

  /** `n` calls, `concurrency` at a time; `between` runs after each call (e.g. to pull a plug). */
  async function calls(t: keyof typeof KEYS, n: number, concurrency: number, between?: (done: number) => Promise<void>): Promise<string[]> {
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          next++;
          ids.push(await call(t));
          await between?.(ids.length);
        }
      }),
    );
    return ids;
  }

  async function one(query: string): Promise<number> {
    const rs = await ch.query({ query, format: "JSONEachRow" });
    const [row] = await rs.json<{ n: string | number }>();
    return Number(row?.n ?? 0);
  }

  /** Rows in `requests` (raw, no FINAL: a duplicate would count), distinct ids, and the rollup's sum. */
  async function counts(t: keyof typeof KEYS) {
    const tenant = `'pipe-${t}-${suffix}'`;
    return {
      rows: await one(`SELECT count() AS n FROM ${database}.requests WHERE tenant_id = ${tenant}`),
      ids: await one(`SELECT uniqExact(request_id) AS n FROM ${database}.requests WHERE tenant_id = ${tenant}`),
      rollup: await one(`SELECT sum(requests) AS n FROM ${database}.requests_by_minute WHERE tenant_id = ${tenant}`),
    };
  }

  /** Waits until `n` rows landed, then a little longer, and checks nothing more came. */
  async function expectExactly(t: keyof typeof KEYS, ids: string[], timeoutMs: number): Promise<void> {
    await eventually(async () => ((await counts(t)).rows >= ids.length ? true : undefined), timeoutMs, `${ids.length} rows of tenant ${t}`);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(await counts(t), { rows: ids.length, ids: ids.length, rollup: ids.length });
    const listed = ids.map((id) => `'${id}'`).join(",");
    assert.equal(await one(`SELECT count() AS n FROM ${database}.requests WHERE request_id IN (${listed})`), ids.length, "the rows are those calls'");
  }

  /** A metric's value on a service's /metrics (0 when absent). */
  async function metric(url: string, name: string): Promise<number> {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
  }

  test("(a) N calls through the gateway become exactly N rows and a rollup of N", async () => {
    const ids = await calls("a", 300, 8);
    assert.equal(new Set(ids).size, 300);
    await expectExactly("a", ids, 60_000);
    const meteringUrl = `http://127.0.0.1:${meteringPort}`;
    assert.ok((await metric(meteringUrl, "tessera_metering_events_stored_total")) >= 300);
    assert.ok((await metric(ingressUrl, "tessera_events_published_total")) >= 300);
    assert.equal(await metric(ingressUrl, "tessera_events_spool_events"), 0);
  });

  test("(b) metering SIGKILLed mid-stream and restarted: still exactly N rows, rollup exactly N", async () => {
    const n = 600;
    let killed = false;
    let rowsAtKill = 0;
    let restarted: Promise<void> | undefined;
    const ids = await calls("b", n, 6, async (done) => {
      if (killed || done < n / 3) return;
      killed = true; // before any await: only one worker pulls the plug
      rowsAtKill = (await counts("b")).rows;
      if (rowsAtKill === 0) {
        killed = false; // nothing stored yet: not mid-stream; try again after the next call
        return;
      }
      const dead = exited(metering);
      metering.child.kill("SIGKILL");
      await dead;
      // Calls keep flowing into Kafka while metering is gone; it comes back a moment later.
      restarted = (async () => {
        await new Promise((r) => setTimeout(r, 1_000));
        const again = startService("metering", env);
        procs[procs.indexOf(metering)] = again;
        metering = again;
        await waitHealthy(`http://127.0.0.1:${meteringPort}/healthz`, again, 60_000);
      })();
    });
    assert.ok(killed, "metering was killed while calls were flowing");
    assert.ok(rowsAtKill > 0 && rowsAtKill < n, `killed mid-stream (${rowsAtKill} of ${n} rows stored by then)`);
    await restarted;
    await expectExactly("b", ids, 90_000);
  });

  test("(c) Kafka stopped for a while then restarted: calls answered, events spooled, then exactly N rows", async () => {
    const n = 200;
    await broker.stop();
    let spooledPeak = 0;
    const t0 = Date.now();
    const ids = await calls("c", n, 4);
    const callMs = Date.now() - t0;
    // The answers never waited for Kafka: 200 calls in far less than any Kafka timeout chain.
    assert.ok(callMs < 20_000, `calls took ${callMs} ms with Kafka down`);
    await eventually(
      async () => {
        spooledPeak = Math.max(spooledPeak, await metric(ingressUrl, "tessera_events_spool_events"));
        return spooledPeak >= n ? true : undefined;
      },
      60_000,
      "the events in ingress's disk spool",
    );
    assert.equal((await counts("c")).rows, 0, "nothing reached ClickHouse while Kafka was down");
    await new Promise((r) => setTimeout(r, 2_000)); // "for a while"
    await broker.start();
    await expectExactly("c", ids, 120_000);
    await eventually(async () => ((await metric(ingressUrl, "tessera_events_spool_events")) === 0 ? true : undefined), 30_000, "the spool drained");
    assert.equal(await metric(ingressUrl, "tessera_events_spool_bytes"), 0);
    assert.equal(await metric(ingressUrl, "tessera_events_dropped_total"), 0);
  });
});
