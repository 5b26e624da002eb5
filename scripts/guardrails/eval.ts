/**
 * Precision and recall of the guardrails detectors on the labelled corpus (see eval-core.ts).
 *
 *   npm run eval:guardrails                          tables on stdout
 *   npm run eval:guardrails -- --json                the whole report as JSON
 *   npm run eval:guardrails -- --threshold 0.6       injection threshold to report (default 0.7)
 *   npm run eval:guardrails -- --misses              also list missed labels and false findings
 *   npm run eval:guardrails -- --write-docs          refresh the section between the
 *                                                    guardrails-eval markers in docs/guardrails.md
 *   npm run eval:guardrails -- --min-recall 0.95 --min-precision 0.95
 *                                                    exit 1 if a structured type falls short
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_INJECTION_THRESHOLD, evaluate, FIXTURES, STRUCTURED, type EvalReport } from "./eval-core.js";

const DOCS = join(FIXTURES, "..", "..", "..", "docs", "guardrails.md");
const START = "<!-- guardrails-eval:start -->";
const END = "<!-- guardrails-eval:end -->";

interface Args {
  json: boolean;
  misses: boolean;
  writeDocs: boolean;
  threshold: number;
  minRecall?: number;
  minPrecision?: number;
}

function usage(msg: string): never {
  console.error(`eval:guardrails: ${msg}`);
  console.error("usage: eval.ts [--json] [--misses] [--threshold N] [--write-docs] [--min-recall R] [--min-precision P]");
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, misses: false, writeDocs: false, threshold: DEFAULT_INJECTION_THRESHOLD };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || v.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) usage(`${flag} needs a number between 0 and 1`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--json": args.json = true; break;
      case "--misses": args.misses = true; break;
      case "--write-docs": args.writeDocs = true; break;
      case "--threshold": args.threshold = num(flag, value()); break;
      case "--min-recall": args.minRecall = num(flag, value()); break;
      case "--min-precision": args.minPrecision = num(flag, value()); break;
      case "-h":
      case "--help": usage("help");
      default: usage(`unknown argument ${a}`);
    }
  }
  return args;
}

const fmt = (x: number) => x.toFixed(3);

/** A GitHub-flavoured markdown table (also readable as plain text). */
function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const width = head.map((_, c) => Math.max(3, ...cells.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(width[c]!) : v.padStart(width[c]!))).join(" | ")} |`;
  const rule = `|${width.map((w, c) => (c === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(head), rule, ...cells.slice(1).map(line)].join("\n");
}

function entityTable(r: EvalReport): string {
  return table(
    ["type", "support", "TP", "FP", "FN", "precision", "recall", "F1"],
    r.types.map((t) => [STRUCTURED.includes(t.type) ? t.type : `${t.type} *`, t.support, t.tp, t.fp, t.fn, fmt(t.precision), fmt(t.recall), fmt(t.f1)]),
  );
}

function injectionTable(r: EvalReport, which: "injection" | "heldOut" = "injection"): string {
  const rep = r[which];
  return table(
    ["threshold", "TP", "FP", "FN", "TN", "precision", "recall", "F1", "benign FPR"],
    rep.thresholds.map((t) => [
      t.threshold === rep.threshold ? `${t.threshold} (used)` : String(t.threshold),
      t.tp, t.fp, t.fn, t.tn, fmt(t.precision), fmt(t.recall), fmt(t.f1), fmt(t.fpr),
    ]),
  );
}

function render(r: EvalReport): string {
  const c = r.corpus;
  return [
    `Corpus: ${c.pii} PII lines, ${c.secrets} secret lines, ${c.injection} injection lines (tests/fixtures/guardrails/).`,
    "",
    "PII and secrets (one scanner, every PII type plus secrets; every unmatched finding is a false positive):",
    "",
    entityTable(r),
    "",
    "Types marked `*` are heuristic (no checksum or strict shape) and are not gated.",
    "",
    `Prompt injection (${r.injection.positives} injections, ${r.injection.benign} benign lookalikes):`,
    "",
    injectionTable(r),
    "",
    "The scorer's weights and patterns were tuned on that set, so its figures flatter it. A held-out",
    `set written blind afterwards (injection-heldout.jsonl: ${r.heldOut.positives} injections, ${r.heldOut.benign} benign near-twins) is the honest figure:`,
    "",
    injectionTable(r, "heldOut"),
    "",
    `Scan cost: ${r.cost.usPerKb} µs per KB over the PII corpus (${r.cost.corpusKb} KB, ${r.cost.passes} warm passes).`,
  ].join("\n");
}

function renderMisses(r: EvalReport): string {
  const out: string[] = ["", "Missed labels:"];
  for (const m of r.misses) {
    const found = m.found.map((f) => `${f.type}:${JSON.stringify(f.value)}`).join(", ") || "nothing";
    out.push(`  ${m.id}  ${m.type}  ${JSON.stringify(m.value)}  found: ${found}`);
  }
  out.push("", "False findings:");
  for (const f of r.falsePositives) out.push(`  ${f.id}  ${f.type} (${f.rule})  ${JSON.stringify(f.value)}  in ${JSON.stringify(f.text.slice(0, 100))}`);
  out.push("", `Injections below ${r.injection.threshold}:`);
  for (const m of r.injection.misses) out.push(`  ${m.id}  ${m.source}  ${m.score}  ${JSON.stringify(m.text.slice(0, 100))}`);
  out.push("", `Benign at or above ${r.injection.threshold}:`);
  for (const m of r.injection.falseAlarms) out.push(`  ${m.id}  ${m.source}  ${m.score}  [${m.signals.join(",")}]  ${JSON.stringify(m.text.slice(0, 100))}`);
  return out.join("\n");
}

/** Replaces only the text between the markers; creates the file (heading + markers) if missing. */
function writeDocs(r: EvalReport, path = DOCS): void {
  if (!existsSync(path)) writeFileSync(path, `# Guardrails\n\n${START}\n${END}\n`);
  const doc = readFileSync(path, "utf8");
  const s = doc.indexOf(START);
  const e = doc.indexOf(END, s + START.length);
  if (s === -1 || e === -1) throw new Error(`${path}: markers ${START} … ${END} not found (in that order)`);
  const body = [
    "",
    "_Generated by `npm run eval:guardrails -- --write-docs`; do not edit by hand. Corpus: `npm run corpus:guardrails`._",
    "",
    render(r),
    "",
  ].join("\n");
  writeFileSync(path, doc.slice(0, s + START.length) + body + doc.slice(e));
}

/** Structured types under the bars, with the reason. */
function gate(r: EvalReport, minRecall?: number, minPrecision?: number): string[] {
  const failures: string[] = [];
  for (const type of STRUCTURED) {
    const t = r.types.find((x) => x.type === type);
    if (!t) {
      failures.push(`${type}: no labels or findings in the corpus`);
      continue;
    }
    if (minRecall !== undefined && t.recall < minRecall) failures.push(`${type}: recall ${fmt(t.recall)} < ${minRecall}`);
    if (minPrecision !== undefined && t.precision < minPrecision) failures.push(`${type}: precision ${fmt(t.precision)} < ${minPrecision}`);
  }
  return failures;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const report = await evaluate({ threshold: args.threshold });
  if (args.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(render(report));
    if (args.misses) console.log(renderMisses(report));
  }
  if (args.writeDocs) {
    writeDocs(report);
    console.error(`eval:guardrails: updated ${DOCS}`);
  }
  if (args.minRecall !== undefined || args.minPrecision !== undefined) {
    const failures = gate(report, args.minRecall, args.minPrecision);
    if (failures.length > 0) {
      for (const f of failures) console.error(`eval:guardrails: FAIL ${f}`);
      process.exit(1);
    }
    console.error("eval:guardrails: every structured type meets the bar");
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : err);
  process.exit(1);
});
