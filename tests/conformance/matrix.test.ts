import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { parseConfig, sha256Hex } from "@tessera/runtime";
import { startAllInOne, type AllInOne } from "@tessera/all-in-one";
import type { ProviderFake } from "../../services/router/src/providers/fake-scenario.js";
import { memoryLogger } from "../helpers/log.js";
import { PROVIDERS, type ProviderRow } from "./providers.js";
import { createSurfaces, type Answer, type SurfaceDriver } from "./surfaces.js";
import { conversation, expectedAnswer, expectedUsage, MODES, SCENARIOS, type Conversation, type Mode, type Scenario } from "./scenarios.js";
import { cellKey, renderReport, type Verdict } from "./report.js";

/**
 * The conformance matrix: every input surface × every provider row × plain/streamed × every
 * scenario, through one all-in-one gateway. Each provider row has three fakes behind three
 * model aliases (`<row>` answers, `<row>-429` and `<row>-400` always fail), so cells run
 * concurrently without switching a fake's mode. Each cell is a test; a cell the surface or
 * the provider cannot express is skipped as n/a with its reason. After a complete run the
 * suite writes docs/conformance.md.
 */

const API_KEY = "tk-conformance-matrix-0123456789";
const REPORT = new URL("../../docs/conformance.md", import.meta.url);
/** Cells in flight at once: enough to overlap the loopback round trips on two cores. */
const CONCURRENCY = 8;

interface RowFakes {
  ok: ProviderFake<string>;
  rate: ProviderFake<string>;
  invalid: ProviderFake<string>;
}

/** The gateway's configuration: every row's three fakes, one model alias each. */
function configYaml(rows: readonly ProviderRow[], fakes: Map<string, RowFakes>): string {
  const providers: string[] = [];
  const models: string[] = [];
  for (const row of rows) {
    const f = fakes.get(row.id)!;
    for (const [suffix, fake] of [["", f.ok], ["-429", f.rate], ["-400", f.invalid]] as const) {
      providers.push(`  - ${row.yaml(`${row.id}${suffix}`, fake.url)}`);
      models.push(`  - { name: ${row.id}${suffix}, deployments: [{ provider: ${row.id}${suffix}, model: "${row.model}" }] }`);
    }
  }
  // The error fakes fail every call: no retries, and no circuit breaker turning their errors
  // into the gateway's own 503 after a few cells.
  return `server: { host: 127.0.0.1, port: 0 }
api_keys:
  - { id: matrix, tenant: conformance, key_sha256: ${sha256Hex(API_KEY)} }
providers:
${providers.join("\n")}
models:
${models.join("\n")}
routing:
  retries: 0
  circuit_breaker: { failure_threshold: 1000000, window_ms: 1000, cooldown_ms: 1000 }
`;
}

/** Why a cell cannot be expressed, or undefined. */
function notApplicable(surface: SurfaceDriver, row: ProviderRow, scenario: Scenario): string | undefined {
  const s = surface.cannot[scenario];
  if (s) return s;
  if (scenario === "parallel_off" && row.caps.disableParallel !== true) return row.caps.disableParallel;
  if ((scenario === "parallel" || scenario === "parallel_off") && !row.caps.parallel) return `${row.label} makes one tool call per turn`;
  return undefined;
}

/**
 * One line for the report: the message, and for an assertion with a diff its changed lines
 * (`+ actual` / `- expected`).
 */
function summary(err: unknown): string {
  const lines = String(err instanceof Error ? err.message : err).split("\n");
  const diff = lines.filter((l) => /^\s*[+-] /.test(l) && !/^\+ actual - expected/.test(l.trim())).map((l) => l.trim().replace(/\s+/g, " "));
  const text = diff.length > 0 ? `${lines[0]} ${diff.slice(0, 8).join(" ")}` : lines[0]!;
  return text.replaceAll("|", "\\|").slice(0, 400);
}

/** JSON text parsed, or a marker that says it was not JSON (so the diff shows it). */
function json(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return `(not JSON: ${text})`;
  }
}

/** Check a successful answer field by field against the scenario's expected answer. */
function checkAnswer(surface: SurfaceDriver, row: ProviderRow, c: Conversation, mode: Mode, a: Answer): void {
  const exp = expectedAnswer(c);
  const actual = {
    problems: a.problems,
    text: a.text,
    calls: a.calls.map((k) => ({ name: k.name, args: json(k.args) })),
    finish: a.finish,
    usage: a.usage,
  };
  const expected = {
    problems: [],
    text: exp.kind === "text" ? exp.text : "",
    calls: exp.kind === "tools" ? exp.calls.map((k) => ({ name: k.name, args: JSON.parse(k.arguments) as unknown })) : [],
    finish: exp.kind === "text" ? surface.finish.text : surface.finish.tools,
    usage: surface.usage(expectedUsage(row.caps)),
  };
  assert.deepEqual(actual, expected);
  const ids = a.calls.map((k) => k.id);
  if (surface.callIds) assert.ok(ids.every((id) => id !== ""), `every tool call has an id: ${JSON.stringify(ids)}`);
  const given = ids.filter((id) => id !== "");
  assert.equal(new Set(given).size, given.length, `tool call ids are distinct: ${JSON.stringify(ids)}`);
  // The fakes stream text word by word: a streamed text arriving in one piece was buffered.
  if (mode === "stream" && exp.kind === "text") assert.ok(a.pieces >= 2, `streamed text arrived in ${a.pieces} piece(s)`);
}

/** The provider's own request: tool definitions, earlier calls and results in its shape. */
function checkUpstream(row: ProviderRow, fake: ProviderFake<string>, c: Conversation): void {
  const recorded = fake.calls.filter((k) => JSON.stringify(k.body).includes(c.userText));
  assert.equal(recorded.length, 1, `one request with "${c.userText}" reached the ${row.label} fake`);
  const v = row.upstream(recorded[0]!.body);
  const lower = (x: unknown) => (typeof x === "string" ? x.toLowerCase() : x);
  assert.deepEqual(
    v.tools.map((t) => {
      const p = (t.parameters ?? {}) as { type?: unknown; properties?: Record<string, { type?: unknown }>; required?: unknown };
      return { name: t.name, type: lower(p.type), city: lower(p.properties?.["city"]?.type), required: p.required };
    }),
    c.tools.map((t) => ({ name: t.name, type: "object", city: "string", required: ["city"] })),
    "tool definitions",
  );
  const h = c.history!;
  assert.deepEqual(
    v.calls.map((k) => ({ name: k.name, args: k.args })),
    h.calls,
    "earlier tool calls",
  );
  assert.deepEqual(
    v.results.map((r) => r.content),
    h.results,
    "tool results",
  );
  v.results.forEach((r, i) => {
    const call = v.calls[i]!;
    if (r.id !== undefined) {
      assert.ok(call.id, `call ${i} has an id`);
      assert.equal(r.id, call.id, `result ${i} answers call ${i}`);
    } else assert.equal(r.name, call.name, `result ${i} names call ${i}'s function`);
  });
}

const rows = PROVIDERS;
const verdicts = new Map<string, Verdict>();
let expectedCells = 0;

describe("conformance matrix: every surface × every provider × plain/stream × scenario", { concurrency: CONCURRENCY }, () => {
  let gw: AllInOne;
  const fakes = new Map<string, RowFakes>();
  /** The drivers, created once the gateway is up; `statics` answers what is known before. */
  const surfaces: SurfaceDriver[] = [];
  const statics = createSurfaces("http://127.0.0.1:1", API_KEY);
  const surfaceLabels = statics.map((s) => ({ id: s.id, label: s.label }));
  const started = Date.now();

  before(async () => {
    for (const row of rows) {
      const f: RowFakes = { ok: await row.start(), rate: await row.start(), invalid: await row.start() };
      f.rate.mode = "error_429";
      f.invalid.mode = "error_400";
      fakes.set(row.id, f);
    }
    const env = Object.assign({}, ...rows.map((r) => r.env)) as NodeJS.ProcessEnv;
    gw = await startAllInOne(parseConfig(configYaml(rows, fakes), "conformance-matrix", env), memoryLogger("matrix").log);
    surfaces.push(...createSurfaces(gw.server.url, API_KEY));
  });

  after(async () => {
    await gw?.stop();
    for (const f of fakes.values()) await Promise.all([f.ok.close(), f.rate.close(), f.invalid.close()]);
    const all = [...verdicts.values()];
    const na = all.filter((v) => v.status === "n/a").length;
    const ran = all.length - na;
    if (all.length === expectedCells && ran > 0) {
      writeFileSync(REPORT, renderReport(surfaceLabels, rows, verdicts));
      console.log(`conformance matrix: ${ran} cells ran (+${na} n/a) in ${Date.now() - started} ms; wrote docs/conformance.md`);
    } else console.log(`conformance matrix: ${ran} of ${expectedCells - na} cells ran; docs/conformance.md left as it was`);
  });

  for (const row of rows)
    for (const mode of MODES)
      for (const [si, st] of statics.entries())
        for (const sc of SCENARIOS) {
          const cell = { surface: st, provider: row, mode, scenario: sc.id };
          const key = cellKey(cell);
          const name = `${st.label} surface ← ${row.label} · ${mode} · ${sc.id}`;
          expectedCells++;
          const na = notApplicable(st, row, sc.id);
          if (na) {
            verdicts.set(key, { status: "n/a", reason: na });
            test(name, { skip: `n/a: ${na}` }, () => {});
            continue;
          }
          test(name, async () => {
            try {
              await runCell(surfaces[si]!, row, mode, sc.id, fakes.get(row.id)!);
              verdicts.set(key, { status: "pass" });
            } catch (err) {
              verdicts.set(key, { status: "fail", message: summary(err) });
              throw err;
            }
          });
        }
});

async function runCell(surface: SurfaceDriver, row: ProviderRow, mode: Mode, scenario: Scenario, fakes: RowFakes): Promise<void> {
  const c = conversation(scenario, `${surface.id}-${row.id}-${mode}-${scenario}`);
  if (scenario === "error_429" || scenario === "error_400") {
    const f = await surface.fail(scenario === "error_429" ? `${row.id}-429` : `${row.id}-400`, c, mode);
    assert.deepEqual({ status: f.status, type: f.type, cls: f.cls }, surface.errors[scenario]);
    if (scenario === "error_429" && surface.seesRetryAfter && row.caps.retryAfterS !== undefined) assert.equal(f.retryAfter, String(row.caps.retryAfterS), "Retry-After");
    return;
  }
  checkAnswer(surface, row, c, mode, await surface.chat(row.id, c, mode));
  if (scenario === "tool_result" && mode === "plain") checkUpstream(row, fakes.ok, c);
}
