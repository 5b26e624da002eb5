/**
 * `npm run bench`: Tessera's speed against its budget (DESIGN.md §6), in one run.
 *
 * Targets, each loaded the same way after a warm-up:
 *   direct      the fake OpenAI upstream itself (the baseline every "added" figure subtracts)
 *   bare        a bare undici reverse proxy to the same fake (the floor on this machine)
 *   all-in-one  services/all-in-one/src/main.ts
 *   mesh        the six services as processes, over Kafka and ClickHouse (needs scripts/infra up)
 * Phases per target: latency at 1 connection (p50/p99), streamed time to first byte
 * (sequential undici loop), throughput at 32 connections with CPU time per call and resident
 * memory read from /proc. Every process runs apart from the load generator; all traffic is
 * loopback; every phase is bounded in time.
 *
 *   metering    request events through the real producer → Kafka → metering → ClickHouse:
 *               sustained events/s and publish-to-visible lag (needs scripts/infra up)
 * Options: --quick (short phases, a CI smoke), --only all-in-one|mesh|bare|metering
 * (comma-separated; the direct baseline always runs). Results: the table on stdout and .data/bench/latest.json.
 * Exit status 1 when any call failed or the run broke; figures over budget are marked OVER
 * but do not fail the run.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { request } from "undici";
import {
  cpuMs,
  freePort,
  haveProc,
  killAllNow,
  REPO,
  rssMb,
  spawnTs,
  stopChildren,
  tcpReachable,
  waitForLine,
  waitHealthy,
  describeDeath,
  type Child,
} from "./children.js";
import { cannon, probe, streamLoop, type Endpoint, type Failures } from "./load.js";
import { BUDGETS, renderTable, type TargetFigures } from "./report.js";
import { measureRedaction } from "./redaction.js";
import { measureMetering, METERING_BUDGET, type MeteringFigures } from "./metering.js";

/** DESIGN.md §6: redaction may cost at most this per KB of prompt. */
const BUDGET_REDACTION_US_PER_KB = 50;

const TARGETS = ["bare", "all-in-one", "mesh", "metering"] as const;
type Target = (typeof TARGETS)[number];

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
  strict: true,
});
if (args.help) {
  process.stdout.write("usage: npm run bench [-- --quick] [-- --only all-in-one|mesh|bare|metering[,…]]\n");
  process.exit(0);
}
const only = new Set<Target>();
for (const t of (args.only ?? TARGETS.join(",")).split(",").map((s) => s.trim()).filter(Boolean)) {
  if (!(TARGETS as readonly string[]).includes(t)) {
    process.stderr.write(`bench: --only: unknown target "${t}" (choose from ${TARGETS.join(", ")})\n`);
    process.exit(2);
  }
  only.add(t as Target);
}

/** Phase lengths. The default run takes about two minutes on 2 cores. */
const P = args.quick
  ? { warmS: 1, latencyS: 2, throughputS: 2, connections: 32, streamN: 50, streamWarm: 10, settleMs: 500 }
  : { warmS: 2, latencyS: 8, throughputS: 8, connections: 32, streamN: 300, streamWarm: 30, settleMs: 1_000 };

const say = (msg: string) => process.stdout.write(`[bench] ${msg}\n`);
const CHAT_PATH = "/v1/chat/completions";
const BENCH_KEY = `tk-bench-${randomBytes(12).toString("hex")}`;
const BENCH_ENV = {
  TESSERA_BENCH_API_KEY: BENCH_KEY,
  TESSERA_BENCH_FAKE_KEY: "sk-bench-fake-upstream",
  TESSERA_LOG_LEVEL: "warn",
};
const tmp = mkdtempSync(path.join(os.tmpdir(), "tessera-bench-"));

// ---- cleanup on every way out ------------------------------------------------------------
let cleaning: Promise<void> | undefined;
const cleanup = () => (cleaning ??= stopChildren().finally(() => rmSync(tmp, { recursive: true, force: true })));
process.on("exit", () => {
  killAllNow();
  rmSync(tmp, { recursive: true, force: true });
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(sig, () => {
    say(`${sig}: stopping every process the benchmark started…`);
    cleanup().finally(() => process.exit(130));
  });
}

// ---- measuring one target ----------------------------------------------------------------
const chatBody = (model: string) => (stream: boolean) =>
  JSON.stringify({ model, messages: [{ role: "user", content: "hello" }], ...(stream ? { stream: true } : {}) });

const fmt = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : "—");

function describeFailures(f: Failures): string {
  const codes = Object.entries(f.statuses).map(([s, n]) => `${s}×${n}`).join(", ");
  return `${f.non2xx} non-2xx${codes ? ` (${codes})` : ""}, ${f.errors} errors, ${f.timeouts} timeouts`;
}

function assertAlive(procs: Child[]): void {
  for (const c of procs) if (c.exit) throw new Error(`a measured process died: ${describeDeath(c)}`);
}

async function measure(name: string, ep: Endpoint, procs: Child[], gateway: boolean, direct?: TargetFigures): Promise<TargetFigures> {
  const byPhase: Record<string, string> = {};
  const totals = { non2xx: 0, errors: 0, timeouts: 0 };
  const note = (phase: string, f: Failures) => {
    if (!f.non2xx && !f.errors && !f.timeouts) return;
    totals.non2xx += f.non2xx;
    totals.errors += f.errors;
    totals.timeouts += f.timeouts;
    byPhase[phase] = describeFailures(f);
    say(`!!! ${name} ${phase}: ${describeFailures(f)}`);
  };

  const proc = haveProc();
  const sampleRss = () => (proc ? procs.reduce((s, c) => s + (c.exit ? 0 : rssMb(c.pid)), 0) : 0);
  const rssIdle = sampleRss();
  await probe(ep);
  say(`${name}: warm-up ${P.warmS}s at 8 connections…`);
  note("warm-up", (await cannon(ep, { connections: 8, durationS: P.warmS })).failures);
  assertAlive(procs);

  say(`${name}: latency, 1 connection for ${P.latencyS}s…`);
  const lat = await cannon(ep, { connections: 1, durationS: P.latencyS });
  note("latency", lat.failures);
  assertAlive(procs);
  say(`${name}:   p50 ${fmt(lat.p50)} ms  p99 ${fmt(lat.p99)} ms  (${lat.requests} calls)`);

  say(`${name}: streaming, ${P.streamN} sequential stream:true calls…`);
  const st = await streamLoop(ep, { n: P.streamN, warm: P.streamWarm });
  note("streaming", st.failures);
  assertAlive(procs);
  say(`${name}:   first byte p50 ${fmt(st.ttfbP50)} ms  end p50 ${fmt(st.totalP50)} ms`);

  say(`${name}: throughput, ${P.connections} connections for ${P.throughputS}s…`);
  const cpu0 = proc ? procs.map((c) => cpuMs(c.pid)) : [];
  let rssPeak = 0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, sampleRss())), 250);
  let thr;
  let rssEnd: Record<string, number> = {};
  try {
    thr = await cannon(ep, { connections: P.connections, durationS: P.throughputS });
    assertAlive(procs);
    if (proc) rssEnd = Object.fromEntries(procs.map((c) => [c.name, rssMb(c.pid)]));
  } finally {
    clearInterval(sampler);
  }
  note("throughput", thr.failures);
  // Let trailing work (event flushes, metering batches) land inside the CPU window.
  await new Promise((r) => setTimeout(r, P.settleMs));
  assertAlive(procs);
  const cpu1 = proc ? procs.map((c) => cpuMs(c.pid)) : [];
  const cpuTotal = cpu1.reduce((s, v, i) => s + (v - cpu0[i]!), 0);
  const rssSum = Object.values(rssEnd).reduce((a, b) => a + b, 0);
  const fig: TargetFigures = {
    name,
    processes: procs.map((c) => c.name),
    latency: { p50: lat.p50, p90: lat.p90, p99: lat.p99, mean: lat.mean, requests: lat.requests },
    throughput: { reqPerS: thr.reqPerS, requests: thr.requests, connections: P.connections, durationS: thr.durationS },
    ...(proc
      ? {
          cpuMsPerCall: thr.requests ? cpuTotal / thr.requests : NaN,
          cpuMsPerCallByProcess: Object.fromEntries(procs.map((c, i) => [c.name, thr.requests ? (cpu1[i]! - cpu0[i]!) / thr.requests : NaN])),
          rssMb: rssSum,
          rssPerProcessMb: rssEnd,
          rssIdleMb: rssIdle,
          rssPeakMb: Math.max(rssPeak, rssSum),
        }
      : {}),
    stream: { n: st.n, ttfbP50: st.ttfbP50, ttfbP99: st.ttfbP99, totalP50: st.totalP50, totalP99: st.totalP99 },
    failures: { ...totals, byPhase },
  };
  if (direct) {
    fig.added = { p50: lat.p50 - direct.latency.p50, p99: lat.p99 - direct.latency.p99 };
    fig.stream!.addedTtfbP50 = st.ttfbP50 - direct.stream!.ttfbP50;
  }
  say(
    `${name}:   ${fmt(thr.reqPerS, 0)} req/s` +
      (proc ? `  CPU ${fmt(fig.cpuMsPerCall!)} ms/call  RSS ${fmt(rssSum, 0)} MB (idle ${fmt(rssIdle, 0)})` : "  (no /proc: CPU and RSS not measured)") +
      (gateway && fig.added ? `  added p50 ${fmt(fig.added.p50)} ms p99 ${fmt(fig.added.p99)} ms` : ""),
  );
  if (proc && procs.length > 1)
    say(
      `${name}:   per process: ` +
        procs.map((c) => `${c.name} ${fmt(fig.cpuMsPerCallByProcess![c.name]!)} ms/call ${fmt(rssEnd[c.name]!, 0)} MB`).join(", "),
    );
  return fig;
}

// ---- configuration for the gateway targets -------------------------------------------------
function gatewayYaml(fakeUrl: string, port: number, extra: string): string {
  return `# generated by scripts/benchmark/main.ts
server: { host: 127.0.0.1, port: ${port}, max_body_bytes: 1048576, drain_timeout_ms: 1000 }
api_keys:
  - { id: bench, tenant: bench, team: bench, key_env: TESSERA_BENCH_API_KEY }
providers:
  - { id: fake, kind: openai, base_url: "${fakeUrl}", api_key_env: TESSERA_BENCH_FAKE_KEY, connections: 128, timeout_ms: 10000 }
models:
  - { name: bench, owned_by: bench, deployments: [{ provider: fake, model: gpt-4o-mini }] }
redaction:
  policies:
    default: { mask: [email] }
${extra}`;
}

const gatewayEndpoint = (origin: string): Endpoint => ({
  origin,
  path: CHAT_PATH,
  headers: { authorization: `Bearer ${BENCH_KEY}` },
  body: chatBody("bench"),
});

async function runAllInOne(fakeUrl: string, direct: TargetFigures): Promise<TargetFigures> {
  const port = await freePort();
  const cfg = path.join(tmp, "all-in-one.yaml");
  // A fresh authz store: PGlite starts only once the admin API writes (see docs/benchmark.md).
  writeFileSync(cfg, gatewayYaml(fakeUrl, port, `events: { kind: memory }\nusage_store: { kind: embedded }\nauthz: { store: { kind: pglite, path: "${path.join(tmp, "authz")}" } }\n`));
  say(`all-in-one: starting services/all-in-one/src/main.ts on 127.0.0.1:${port}…`);
  const c = spawnTs("all-in-one", "services/all-in-one/src/main.ts", {
    env: { ...BENCH_ENV, TESSERA_CONFIG: cfg, TESSERA_PORT: String(port) },
  });
  try {
    await waitHealthy(c, `http://127.0.0.1:${port}`, 60_000);
    return await measure("all-in-one", gatewayEndpoint(`http://127.0.0.1:${port}`), [c], true, direct);
  } finally {
    await stopChildren([c]);
  }
}

/** Why the mesh cannot run here, or undefined when it can. */
async function meshUnavailable(): Promise<string | undefined> {
  const brokers = process.env["TESSERA_TEST_KAFKA_BROKERS"];
  const ch = process.env["TESSERA_TEST_CLICKHOUSE_URL"];
  if (!brokers || !ch) return "run scripts/infra up first (TESSERA_TEST_KAFKA_BROKERS / TESSERA_TEST_CLICKHOUSE_URL are not set)";
  const [host, port] = brokers.split(",")[0]!.trim().split(":");
  if (!(await tcpReachable(host!, Number(port))))
    return `Kafka at ${brokers} does not answer; run scripts/infra up first`;
  try {
    const res = await request(`${ch.replace(/\/$/, "")}/ping`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(String(res.statusCode));
  } catch {
    return `ClickHouse at ${ch} does not answer; run scripts/infra up first`;
  }
  return undefined;
}

const MESH_SERVICES = [
  { key: "authz", dir: "authz" },
  { key: "redaction", dir: "redaction" },
  { key: "router", dir: "router" },
  { key: "prompt_registry", dir: "prompt-registry" },
  { key: "metering", dir: "metering" },
] as const;

async function runMesh(fakeUrl: string, direct: TargetFigures): Promise<TargetFigures> {
  const brokers = process.env["TESSERA_TEST_KAFKA_BROKERS"]!.split(",").map((b) => b.trim()).filter(Boolean);
  const chUrl = process.env["TESSERA_TEST_CLICKHOUSE_URL"]!;
  const ingressPort = await freePort();
  const ports: Record<string, number> = {};
  for (const s of MESH_SERVICES) ports[s.key] = await freePort();
  const extra = [
    `events: { kind: kafka, brokers: [${brokers.map((b) => `"${b}"`).join(", ")}], topic: tessera.bench.requests.v1, group_id: tessera-bench-metering }`,
    `usage_store: { kind: clickhouse, url: "${chUrl}", database: tessera_bench }`,
    // authz as in production: Postgres (when scripts/infra runs it) for keys, limits and budgets.
    process.env["TESSERA_TEST_POSTGRES_URL"]
      ? "authz: { store: { kind: postgres, url_env: TESSERA_TEST_POSTGRES_URL } }"
      : `authz: { store: { kind: pglite, path: "${path.join(tmp, "authz-mesh")}" } }`,
    "mesh:",
    ...MESH_SERVICES.map((s) => `  ${s.key}: { listen: { host: 127.0.0.1, port: ${ports[s.key]} } }`),
    "",
  ].join("\n");
  const cfg = path.join(tmp, "mesh.yaml");
  writeFileSync(cfg, gatewayYaml(fakeUrl, ingressPort, extra));
  const env = { ...BENCH_ENV, TESSERA_CONFIG: cfg, TESSERA_PORT: String(ingressPort) };
  const procs: Child[] = [];
  try {
    say(`mesh: starting ${MESH_SERVICES.map((s) => s.dir).join(", ")}…`);
    for (const s of MESH_SERVICES) procs.push(spawnTs(s.dir, `services/${s.dir}/src/main.ts`, { env }));
    await Promise.all(MESH_SERVICES.map((s, i) => waitHealthy(procs[i]!, `http://127.0.0.1:${ports[s.key]}`, 90_000)));
    say(`mesh: starting ingress on 127.0.0.1:${ingressPort}…`);
    const ingress = spawnTs("ingress", "services/ingress/src/main.ts", { env });
    procs.push(ingress);
    await waitHealthy(ingress, `http://127.0.0.1:${ingressPort}`, 90_000);
    return await measure("mesh", gatewayEndpoint(`http://127.0.0.1:${ingressPort}`), procs, true, direct);
  } finally {
    await stopChildren(procs);
  }
}

// ---- the run ---------------------------------------------------------------------------------
async function main(): Promise<number> {
  const started = new Date();
  say(`${args.quick ? "quick" : "full"} run: targets direct, ${[...only].join(", ")}; ${os.cpus().length} CPUs, node ${process.version}`);
  const results: TargetFigures[] = [];
  const skipped: Record<string, string> = {};

  say("fake upstream: starting (own process)…");
  const fake = spawnTs("fake-upstream", "scripts/benchmark/fake-upstream.ts");
  const fakeUrl = await waitForLine(fake, /FAKE_URL (\S+)/, 30_000);
  const fakeOrigin = new URL(fakeUrl).origin;
  say(`fake upstream: ${fakeUrl}`);

  const direct = await measure(
    "direct",
    { origin: fakeOrigin, path: CHAT_PATH, headers: {}, body: chatBody("gpt-4o-mini") },
    [fake],
    false,
  );
  results.push(direct);

  if (only.has("bare")) {
    say("bare: starting the bare undici proxy (own process)…");
    const bare = spawnTs("bare-proxy", "scripts/benchmark/bare-proxy.ts", { args: [fakeUrl] });
    try {
      const url = await waitForLine(bare, /PROXY_URL (\S+)/, 30_000);
      results.push(await measure("bare", { origin: url, path: CHAT_PATH, headers: {}, body: chatBody("gpt-4o-mini") }, [bare], true, direct));
    } finally {
      await stopChildren([bare]);
    }
  }
  if (only.has("all-in-one")) results.push(await runAllInOne(fakeUrl, direct));
  if (only.has("mesh")) {
    const why = await meshUnavailable();
    if (why) {
      skipped["mesh"] = why;
      say(`mesh: skipped — ${why}`);
    } else results.push(await runMesh(fakeUrl, direct));
  }
  await stopChildren([fake]);

  let metering: MeteringFigures | undefined;
  if (only.has("metering")) {
    const why = await meshUnavailable();
    if (why) {
      skipped["metering"] = why;
      say(`metering: skipped — ${why}`);
    } else {
      metering = await measureMetering({
        brokers: process.env["TESSERA_TEST_KAFKA_BROKERS"]!.split(",").map((b) => b.trim()).filter(Boolean),
        clickhouse: process.env["TESSERA_TEST_CLICKHOUSE_URL"]!,
        backlogEvents: args.quick ? 30_000 : 150_000,
        pacedEvents: args.quick ? 30_000 : 150_000,
        tmp,
        say,
      });
    }
  }

  say("redaction: the default policy on a 4 KB prompt, request side and streamed answer side (in-process, warm)…");
  const redaction = await measureRedaction(args.quick ? 200 : 1000);
  const redactionOver = redaction.requestUsPerKb > BUDGET_REDACTION_US_PER_KB;
  say(
    `redaction: request ${redaction.requestUsPerKb.toFixed(1)} µs/KB on new text (budget ≤ ${BUDGET_REDACTION_US_PER_KB}${redactionOver ? " OVER" : " ok"}), ` +
      `${redaction.requestRepeatUsPerKb.toFixed(1)} µs/KB on a resent history, ` +
      `answer stream ${redaction.answerUsPerKb.toFixed(1)} µs/KB, hold-back at most ${redaction.maxHeldChars} characters`,
  );

  const { text, over } = renderTable(results);
  if (redactionOver) over.push({ target: "redaction", figure: "µs per KB", value: redaction.requestUsPerKb, budget: BUDGET_REDACTION_US_PER_KB });
  if (metering) {
    const m = metering;
    if (m.backlog.receivedPerS < METERING_BUDGET.eventsPerS) over.push({ target: "metering", figure: "events/s into ClickHouse", value: m.backlog.receivedPerS, budget: METERING_BUDGET.eventsPerS });
    if (m.paced.lagP99Ms > METERING_BUDGET.visibleP99Ms) over.push({ target: "metering", figure: "visible p99 ms", value: m.paced.lagP99Ms, budget: METERING_BUDGET.visibleP99Ms });
  }
  const failed = results.filter((r) => r.failures.non2xx || r.failures.errors || r.failures.timeouts);
  process.stdout.write(`\n${text}\n`);
  process.stdout.write(
    "\nadded = target minus direct at 1 connection; TTFB = first body byte of a stream:true call; " +
      "CPU and RSS are the measured processes' own (direct: the fake; bare: the proxy; mesh: six services summed).\n",
  );
  if (metering) {
    const { paced: p, backlog: b } = metering;
    const ok = (good: boolean) => (good ? "ok" : "OVER");
    process.stdout.write(
      `metering (producer → Kafka → metering → ClickHouse): ${fmt(b.receivedPerS, 0)} events/s sustained ` +
        `(≥ ${METERING_BUDGET.eventsPerS} ${ok(b.receivedPerS >= METERING_BUDGET.eventsPerS)}); at ${fmt(p.offeredPerS, 0)}/s offered, ` +
        `visible after p50 ${fmt(p.lagP50Ms, 0)} ms / p99 ${fmt(p.lagP99Ms, 0)} ms (≤ ${METERING_BUDGET.visibleP99Ms} ${ok(p.lagP99Ms <= METERING_BUDGET.visibleP99Ms)})` +
        (metering.cpuMsPer1k !== undefined ? `; metering CPU ${fmt(metering.cpuMsPer1k, 1)} ms per 1 000 events` : "") +
        "\n",
    );
  }
  for (const [t, why] of Object.entries(skipped)) process.stdout.write(`${t}: skipped — ${why}\n`);
  if (over.length) process.stdout.write(`over budget: ${over.map((o) => `${o.target} ${o.figure} ${o.value.toFixed(3)} > ${o.budget}`).join("; ")}\n`);

  const out = path.join(REPO, ".data/bench/latest.json");
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}` },
        options: { quick: args.quick, only: [...only], phases: P },
        budgets: BUDGETS,
        targets: results,
        redaction,
        metering,
        skipped,
        overBudget: over,
        ok: failed.length === 0,
      },
      null,
      2,
    ) + "\n",
  );
  process.stdout.write(`results written to ${path.relative(process.cwd(), out) || out}\n`);

  if (failed.length) {
    const bar = "!".repeat(78);
    process.stdout.write(`\n${bar}\n!!! THIS RUN HAD FAILED CALLS — its figures are not trustworthy:\n`);
    for (const r of failed)
      for (const [phase, what] of Object.entries(r.failures.byPhase)) process.stdout.write(`!!!   ${r.name} ${phase}: ${what}\n`);
    process.stdout.write(`${bar}\n`);
    return 1;
  }
  return 0;
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (err: Error) => {
    process.stderr.write(`\n[bench] FAILED: ${err.stack ?? err.message}\n`);
    await cleanup();
    process.exit(1);
  },
);
