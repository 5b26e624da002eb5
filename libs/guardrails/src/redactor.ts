import { TesseraError } from "@tessera/runtime";
import type { CompiledPolicy } from "./policy.js";
import { scoreInjection } from "./injection.js";
import type { EntityType, Finding, TextSource } from "./types.js";

/** `<EMAIL_1>`-style placeholders; the caller's own ones are found with this too. */
export const PLACEHOLDER = /<(EMAIL|PHONE|CARD|IBAN|SSN|IP|DOB|ADDRESS|PERSON|SECRET|DENIED)_(\d{1,6})>/g;

/** The longest placeholder Tessera writes (a hold-back bound for streams). */
export const MAX_PLACEHOLDER_LENGTH = "<ADDRESS_999999>".length;

/** Where in the request a text is, for block messages (e.g. "messages[2].content"). */
export interface TextPlace {
  param: string;
  source: TextSource;
}

/**
 * Applies one policy to the texts of one call. Equal values get equal placeholders
 * (`<EMAIL_1>` each time the same address appears). Placeholders the caller wrote
 * themselves are never reused for real values, so a forged `<EMAIL_1>` can never be restored
 * into anyone's data. Keeps counts per type (never values) and the token map for restoring.
 */
export class Redactor {
  readonly counts: Record<string, number> = {};
  /** Placeholder → original, for tokenised entities of this call only. */
  readonly tokens = new Map<string, string>();
  /** Highest placeholder number used per type (the caller's forged ones included). */
  readonly lastIndex = new Map<string, number>();
  private readonly byValue = new Map<string, string>();
  private readonly taken = new Set<string>();
  maxInjection = 0;

  constructor(readonly policy: CompiledPolicy) {}

  /** Note the placeholders a caller wrote, so generated ones skip their numbers. */
  reserve(text: string): void {
    if (!text.includes("<")) return;
    for (const m of text.matchAll(PLACEHOLDER)) {
      this.taken.add(m[0]);
      const n = Number(m[2]);
      if (n > (this.lastIndex.get(m[1]!) ?? 0)) this.lastIndex.set(m[1]!, n);
    }
  }

  private placeholder(type: EntityType, value: string): string {
    const key = `${type}\u0000${type === "email" ? value.toLowerCase() : value}`;
    let ph = this.byValue.get(key);
    if (ph) return ph;
    const tag = type.toUpperCase();
    let n = this.lastIndex.get(tag) ?? 0;
    do ph = `<${tag}_${++n}>`;
    while (this.taken.has(ph));
    this.lastIndex.set(tag, n);
    this.byValue.set(key, ph);
    return ph;
  }

  /** Redact one text; throws a 400 naming the rule when the policy blocks what it holds. */
  async text(text: string, place: TextPlace): Promise<string> {
    if (!text) return text;
    const p = this.policy;
    const scoreIt = p.injection.action !== "off" && (place.source !== "tool" || p.injection.toolResults) && place.source !== "assistant";
    // A text seen on an earlier call (a conversation's history) is not scanned again.
    const key = p.memo.key(text, place.source);
    let seen = p.memo.get(key);
    if (!seen || (scoreIt && !seen.injection)) {
      seen = { findings: p.scan(text), injection: scoreIt ? scoreInjection(text, place.source) : undefined };
      p.memo.set(key, seen);
    }
    if (scoreIt) {
      const inj = seen.injection!;
      if (inj.score > this.maxInjection) this.maxInjection = inj.score;
      if (inj.score >= p.injection.threshold) {
        this.counts["injection"] = (this.counts["injection"] ?? 0) + 1;
        if (p.injection.action === "block")
          throw new TesseraError(
            "invalid_request",
            `Blocked by redaction policy '${p.name}': ${place.param} looks like a prompt injection (score ${inj.score.toFixed(2)}, signals: ${inj.signals.join(", ")}).`,
            { code: "prompt_injection", param: place.param },
          );
      }
    }
    let findings = seen.findings;
    if (p.analyze) findings = mergeFindings(findings, await p.analyze(text));
    return this.apply(text, findings, place);
  }

  /** Apply the policy's actions to findings of `text` (sorted, non-overlapping). */
  apply(text: string, findings: Finding[], place: TextPlace): string {
    if (findings.length === 0) return text;
    const p = this.policy;
    let out = "";
    let at = 0;
    for (const f of findings) {
      const action = p.actions.get(f.type);
      if (!action || f.score < p.minScore || f.start < at) continue;
      this.counts[f.type] = (this.counts[f.type] ?? 0) + 1;
      if (action === "flag") continue;
      if (action === "block")
        throw new TesseraError("invalid_request", `Blocked by redaction policy '${p.name}': ${place.param} contains ${article(f.type)} ${f.type} (rule ${f.rule}).`, {
          code: "content_blocked",
          param: place.param,
        });
      const value = text.slice(f.start, f.end);
      let replacement: string;
      if (action === "hash") replacement = `<${f.type.toUpperCase()}_${p.hash(f.type, value)}>`;
      else {
        replacement = this.placeholder(f.type, value);
        if (action === "tokenize") this.tokens.set(replacement, value);
      }
      out += text.slice(at, f.start) + replacement;
      at = f.end;
    }
    return at === 0 ? text : out + text.slice(at);
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? "an" : "a";
}

/** Findings of two sources, overlaps resolved in favour of the first list. */
export function mergeFindings(a: Finding[], b: Finding[]): Finding[] {
  if (b.length === 0) return a;
  const out = [...a];
  for (const f of b) if (!a.some((x) => x.start < f.end && f.start < x.end)) out.push(f);
  return out.sort((x, y) => x.start - y.start);
}
