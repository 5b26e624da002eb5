import { test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import { Writable } from "node:stream";
import { createLogger } from "./log.js";
import { startServer } from "./server.js";
import { createMetricsRegistry, observeCounter, observeGauge, secondsHistogram } from "./metrics.js";

const log = createLogger({ name: "t", level: "silent", destination: new Writable({ write: (_c, _e, cb) => cb() }) });

function h1(url: string, path: string, body?: string): Promise<{ status: number; text: string; version: string }> {
  return new Promise((resolve, reject) => {
    const r = http.request(`${url}${path}`, { method: body ? "POST" : "GET" }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, text, version: res.httpVersion }));
    });
    r.on("error", reject);
    r.end(body);
  });
}

test("one port answers HTTP/1.1 and h2c, and drains in-flight calls on close", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const server = await startServer({
    name: "t",
    host: "127.0.0.1",
    port: 0,
    bindings: [],
    log,
    drainTimeoutMs: 5_000,
    rest: (req, res) => {
      if (req.url === "/slow") {
        void gate.then(() => res.end(`slow ${req.httpVersion}`));
        return;
      }
      res.end(`rest ${req.httpVersion}`);
    },
  });
  const a = await h1(server.url, "/x");
  assert.deepEqual([a.status, a.text], [200, "rest 1.1"]);

  const session = http2.connect(server.url);
  const viaH2 = await new Promise<string>((resolve, reject) => {
    const s = session.request({ ":path": "/x" });
    let t = "";
    s.on("data", (d) => (t += d));
    s.on("end", () => resolve(t));
    s.on("error", reject);
  });
  session.close();
  assert.equal(viaH2, "rest 2.0");

  const health = await h1(server.url, "/healthz");
  assert.equal(health.status, 200);

  const slow = h1(server.url, "/slow");
  await new Promise((r) => setTimeout(r, 50));
  const closing = server.close();
  // new connections are refused while draining
  await assert.rejects(h1(server.url, "/x"), /ECONNREFUSED/);
  release();
  const s = await slow;
  assert.deepEqual([s.status, s.text], [200, "slow 1.1"]);
  await closing;
});

test("close() gives up on a call that outlives the drain timeout", async () => {
  const server = await startServer({ name: "t", host: "127.0.0.1", port: 0, bindings: [], log, drainTimeoutMs: 100, rest: () => {} });
  const hung = h1(server.url, "/never").catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  await server.close();
  assert.ok(Date.now() - t0 < 2_000);
  assert.ok((await hung) instanceof Error);
});

test("/metrics serves the registry as Prometheus text, values read at scrape time; 404 without one", async () => {
  const metrics = createMetricsRegistry("svc-under-test");
  let stored = 3;
  observeCounter(metrics, "tessera_test_stored_total", "Things stored.", () => stored);
  observeGauge(metrics, "tessera_test_waiting", "Things waiting.", () => 7);
  const observe = secondsHistogram(metrics, "tessera_test_seconds", "Durations.", [0.1, 1]);
  observe(0.05);
  observe(0.5);
  const server = await startServer({ name: "t", host: "127.0.0.1", port: 0, bindings: [], log, metrics, rest: (_q, res) => res.end("rest") });
  const first = await h1(server.url, "/metrics");
  assert.equal(first.status, 200);
  assert.match(first.text, /^# TYPE tessera_test_stored_total counter$/m);
  assert.match(first.text, /^tessera_test_stored_total\{service="svc-under-test"\} 3$/m);
  assert.match(first.text, /^tessera_test_waiting\{service="svc-under-test"\} 7$/m);
  assert.match(first.text, /^tessera_test_seconds_bucket\{le="0.1",service="svc-under-test"\} 1$/m);
  assert.match(first.text, /^tessera_test_seconds_count\{service="svc-under-test"\} 2$/m);
  assert.match(first.text, /^process_resident_memory_bytes\{service="svc-under-test"\} \d+$/m, "Node's process metrics too");
  stored = 10;
  assert.match((await h1(server.url, "/metrics")).text, /^tessera_test_stored_total\{service="svc-under-test"\} 10$/m);
  await server.close();

  const bare = await startServer({ name: "t", host: "127.0.0.1", port: 0, bindings: [], log });
  assert.equal((await h1(bare.url, "/metrics")).status, 404);
  await bare.close();
});
