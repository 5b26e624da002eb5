/**
 * Scores the guardrails detectors against the labelled corpus in tests/fixtures/guardrails/
 * (written by make-corpus.ts). PII and secrets: one scanner with every PII type plus
 * detectSecrets, over both pii.jsonl and secrets.jsonl; per type support, TP, FP, FN, precision,
 * recall and F1. Injection: scoreInjection over injection.jsonl at several thresholds.
 *
 * Matching: labels are values; every occurrence of a value in its text is one labelled span. A
 * finding is a true positive when it has the label's type and its [start, end) covers at least
 * half of the labelled span; each label and each finding is matched at most once (largest
 * overlaps first). Every unmatched finding is a false positive, whatever the line is about: that
 * is the honest precision. Precision with no findings and recall with no labels are 1 (vacuous).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { createScanner } from "../../libs/guardrails/src/scan.js";
import { detectSecrets } from "../../libs/guardrails/src/secrets.js";
import { scoreInjection } from "../../libs/guardrails/src/injection.js";
import { ENTITY_TYPES, STRUCTURED, type EntityType, type Finding } from "../../libs/guardrails/src/types.js";
import type { InjectionCase, PiiCase } from "./corpus-types.js";

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "tests", "fixtures", "guardrails");
/** The injection threshold of the default policy. */
export const DEFAULT_INJECTION_THRESHOLD = 0.5;
export const INJECTION_THRESHOLDS: readonly number[] = [0.3, 0.5, 0.7];
export { STRUCTURED };

type LabelledLine = PiiCase;
type InjectionLine = InjectionCase;

export interface TypeStats {
  type: EntityType;
  support: number;
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
}
/** A labelled span no finding matched, with what the scanner found in that line. */
export interface Miss {
  id: string;
  type: EntityType;
  value: string;
  text: string;
  found: { type: EntityType; value: string; rule: string }[];
}
/** A finding that matched no label. */
export interface FalseFinding {
  id: string;
  type: EntityType;
  value: string;
  rule: string;
  text: string;
}
export interface InjectionAt {
  threshold: number;
  tp: number;
  fp: number;
  fn: number;
  tn: number;
  precision: number;
  recall: number;
  f1: number;
  /** False-positive rate on the benign lines. */
  fpr: number;
}
export interface InjectionReport {
  positives: number;
  benign: number;
  threshold: number;
  thresholds: InjectionAt[];
  /** Injections scoring below `threshold`, and benign lines at or above it. */
  misses: { id: string; note: string; source: string; score: number; signals: string[]; text: string }[];
  falseAlarms: { id: string; note: string; source: string; score: number; signals: string[]; text: string }[];
}
export interface EvalReport {
  corpus: { pii: number; secrets: number; injection: number };
  types: TypeStats[];
  misses: Miss[];
  falsePositives: FalseFinding[];
  injection: InjectionReport;
  /** The same scorer on a set written blind, after the scorer was tuned on injection.jsonl. */
  heldOut: InjectionReport;
  cost: { corpusKb: number; passes: number; usPerKb: number };
}

function readJsonl<T>(name: string): T[] {
  const raw = readFileSync(join(FIXTURES, name), "utf8");
  return raw
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l, i) => {
      try {
        return JSON.parse(l) as T;
      } catch (err) {
        throw new Error(`${name}:${i + 1}: ${(err as Error).message}`);
      }
    });
}

const ratio = (num: number, den: number) => (den === 0 ? 1 : num / den);
const f1 = (p: number, r: number) => (p + r === 0 ? 0 : (2 * p * r) / (p + r));
const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

interface Span {
  type: EntityType;
  start: number;
  end: number;
  value: string;
}

/** Every occurrence of every labelled value (a value labelled twice counts once). */
export function labelSpans(line: LabelledLine): Span[] {
  const seen = new Set<string>();
  const spans: Span[] = [];
  for (const e of line.entities) {
    const key = `${e.type}\u0000${e.value}`;
    if (seen.has(key) || e.value.length === 0) continue;
    seen.add(key);
    for (let i = line.text.indexOf(e.value); i !== -1; i = line.text.indexOf(e.value, i + 1)) {
      spans.push({ type: e.type, start: i, end: i + e.value.length, value: e.value });
    }
  }
  return spans;
}

/** Pairs findings with labels (same type, overlap ≥ 50% of the label), largest overlaps first. */
export function matchLine(labels: readonly Span[], findings: readonly Finding[]): { matchedLabels: boolean[]; matchedFindings: boolean[] } {
  const pairs: [overlap: number, li: number, fi: number][] = [];
  labels.forEach((l, li) => {
    findings.forEach((f, fi) => {
      if (f.type !== l.type) return;
      const overlap = Math.min(l.end, f.end) - Math.max(l.start, f.start);
      if (overlap > 0 && overlap * 2 >= l.end - l.start) pairs.push([overlap, li, fi]);
    });
  });
  pairs.sort((a, b) => b[0] - a[0] || a[1] - b[1] || a[2] - b[2]);
  const matchedLabels = labels.map(() => false);
  const matchedFindings = findings.map(() => false);
  for (const [, li, fi] of pairs) {
    if (matchedLabels[li] || matchedFindings[fi]) continue;
    matchedLabels[li] = true;
    matchedFindings[fi] = true;
  }
  return { matchedLabels, matchedFindings };
}

function scoreEntities(lines: readonly LabelledLine[], scan: (t: string) => Finding[]) {
  const counts = new Map<EntityType, { support: number; tp: number; fp: number; fn: number }>();
  const bump = (t: EntityType) => {
    let c = counts.get(t);
    if (!c) counts.set(t, (c = { support: 0, tp: 0, fp: 0, fn: 0 }));
    return c;
  };
  const misses: Miss[] = [];
  const falsePositives: FalseFinding[] = [];
  for (const line of lines) {
    const labels = labelSpans(line);
    const findings = scan(line.text);
    const { matchedLabels, matchedFindings } = matchLine(labels, findings);
    labels.forEach((l, i) => {
      const c = bump(l.type);
      c.support++;
      if (matchedLabels[i]) c.tp++;
      else {
        c.fn++;
        misses.push({
          id: line.id,
          type: l.type,
          value: l.value,
          text: line.text,
          found: findings.map((f) => ({ type: f.type, value: line.text.slice(f.start, f.end), rule: f.rule })),
        });
      }
    });
    findings.forEach((f, i) => {
      if (matchedFindings[i]) return;
      bump(f.type).fp++;
      falsePositives.push({ id: line.id, type: f.type, value: line.text.slice(f.start, f.end), rule: f.rule, text: line.text });
    });
  }
  const types: TypeStats[] = [];
  for (const type of ENTITY_TYPES) {
    const c = counts.get(type);
    if (!c) continue;
    const precision = ratio(c.tp, c.tp + c.fp);
    const recall = ratio(c.tp, c.tp + c.fn);
    types.push({ type, ...c, precision: round(precision), recall: round(recall), f1: round(f1(precision, recall)) });
  }
  return { types, misses, falsePositives };
}

function scoreInjections(lines: readonly InjectionLine[], threshold: number): InjectionReport {
  const scored = lines.map((l) => ({ line: l, ...scoreInjection(l.text, l.source) }));
  const positives = lines.filter((l) => l.injection).length;
  const benign = lines.length - positives;
  const ts = [...new Set([...INJECTION_THRESHOLDS, threshold])].sort((a, b) => a - b);
  const thresholds = ts.map((t): InjectionAt => {
    let tp = 0, fp = 0, fn = 0, tn = 0;
    for (const s of scored) {
      const flagged = s.score >= t;
      if (s.line.injection) flagged ? tp++ : fn++;
      else flagged ? fp++ : tn++;
    }
    const precision = ratio(tp, tp + fp);
    const recall = ratio(tp, tp + fn);
    return { threshold: t, tp, fp, fn, tn, precision: round(precision), recall: round(recall), f1: round(f1(precision, recall)), fpr: round(ratio(fp, fp + tn)) };
  });
  const view = (s: (typeof scored)[number]) => ({ id: s.line.id, note: s.line.note, source: s.line.source, score: round(s.score, 3), signals: s.signals, text: s.line.text });
  return {
    positives,
    benign,
    threshold,
    thresholds,
    misses: scored.filter((s) => s.line.injection && s.score < threshold).map(view),
    falseAlarms: scored.filter((s) => !s.line.injection && s.score >= threshold).map(view),
  };
}

/** Scan cost over the PII corpus: one warm-up pass, then timed passes; microseconds per KB (UTF-8). */
function measureCost(lines: readonly LabelledLine[], scan: (t: string) => Finding[], passes = 3) {
  const texts = lines.map((l) => l.text);
  const kb = texts.reduce((n, t) => n + Buffer.byteLength(t, "utf8"), 0) / 1024;
  for (const t of texts) scan(t);
  const t0 = performance.now();
  for (let p = 0; p < passes; p++) for (const t of texts) scan(t);
  const us = (performance.now() - t0) * 1000;
  return { corpusKb: round(kb, 1), passes, usPerKb: round(us / passes / kb, 1) };
}

export async function evaluate(opts: { threshold?: number } = {}): Promise<EvalReport> {
  const threshold = opts.threshold ?? DEFAULT_INJECTION_THRESHOLD;
  const pii = readJsonl<LabelledLine>("pii.jsonl");
  const secrets = readJsonl<LabelledLine>("secrets.jsonl");
  const injection = readJsonl<InjectionLine>("injection.jsonl");
  const heldOut = readJsonl<InjectionLine>("injection-heldout.jsonl");
  const scanner = createScanner(ENTITY_TYPES, [detectSecrets]);
  const scan = (t: string) => scanner.scan(t);
  const entities = scoreEntities([...pii, ...secrets], scan);
  return {
    corpus: { pii: pii.length, secrets: secrets.length, injection: injection.length },
    ...entities,
    injection: scoreInjections(injection, threshold),
    heldOut: scoreInjections(heldOut, threshold),
    cost: measureCost(pii, scan),
  };
}
