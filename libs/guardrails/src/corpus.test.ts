/**
 * The detectors against the labelled corpus (tests/fixtures/guardrails/, written by
 * scripts/guardrails/make-corpus.ts; scored by scripts/guardrails/eval-core.ts). Structured types
 * must reach 0.95 precision and recall; heuristic ones (person, address, dob) only have to be
 * measured; injection gets a sanity bar.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { evaluate, type EvalReport } from "../../../scripts/guardrails/eval-core.js";
import { STRUCTURED } from "./types.js";

let report: Promise<EvalReport> | undefined;
const once = () => (report ??= evaluate());

const BAR = 0.95;

for (const type of STRUCTURED) {
  test(`corpus: ${type} precision and recall ≥ ${BAR}`, async () => {
    const r = await once();
    const t = r.types.find((x) => x.type === type);
    assert.ok(t && t.support > 0, `no ${type} labels in the corpus`);
    const misses = r.misses.filter((m) => m.type === type).slice(0, 5).map((m) => `${m.id} ${JSON.stringify(m.value)}`);
    const fps = r.falsePositives.filter((f) => f.type === type).slice(0, 5).map((f) => `${f.id} ${JSON.stringify(f.value)}`);
    assert.ok(t.recall >= BAR, `${type} recall ${t.recall} < ${BAR}; e.g. missed ${misses.join(", ")}`);
    assert.ok(t.precision >= BAR, `${type} precision ${t.precision} < ${BAR}; e.g. false ${fps.join(", ")}`);
  });
}

test("corpus: person, address and dob are measured", async () => {
  const r = await once();
  for (const type of ["person", "address", "dob"] as const) {
    const t = r.types.find((x) => x.type === type);
    assert.ok(t && t.support > 0, `no ${type} labels in the corpus`);
    for (const k of ["precision", "recall", "f1"] as const) {
      assert.ok(Number.isFinite(t[k]) && t[k] >= 0 && t[k] <= 1, `${type} ${k} = ${t[k]}`);
    }
  }
});

test("corpus: injection recall at 0.7 ≥ 0.5, benign false-positive rate ≤ 0.2", async () => {
  const r = await once();
  const at = r.injection.thresholds.find((t) => t.threshold === 0.7);
  assert.ok(at, "no figures at threshold 0.7");
  assert.ok(at.recall >= 0.5, `injection recall ${at.recall} at 0.7`);
  assert.ok(at.fpr <= 0.2, `benign false-positive rate ${at.fpr} at 0.7`);
});

test("corpus: scan cost is measured", async () => {
  const r = await once();
  assert.ok(r.cost.corpusKb > 0 && Number.isFinite(r.cost.usPerKb) && r.cost.usPerKb > 0);
});
