import type { CompiledPolicy } from "./policy.js";
import { MAX_PLACEHOLDER_LENGTH, PLACEHOLDER, Redactor } from "./redactor.js";
import type { Finding } from "./types.js";

/** How much already-sent text is kept as context for detectors that need it (e.g. "born on"). */
const CONTEXT = 64;
/** The most a stream ever holds back, whatever it looks like. */
const MAX_HOLD = 256;

/** A trailing run that could still grow into a spaced number (card, phone, IBAN). */
const SPACED_NUMBER_TAIL = /[+(]?[0-9A-Z][0-9A-Z ().-]{0,62}$/;
/** A trailing placeholder that has not closed yet. */
const OPEN_PLACEHOLDER = /<[A-Z]{0,7}(?:_\d{0,6})?$/;

/**
 * The answer side of a policy: tokens restored (the caller gets back their own values, and
 * only theirs), and — when the policy scans answers — entities the model produced masked
 * like the request's, numbered after them. Block on an answer masks instead: the answer is
 * already being sent.
 */
export class ResponseRedactor {
  private readonly redactor: Redactor | undefined;

  constructor(
    policy: CompiledPolicy | undefined,
    private readonly tokens: ReadonlyMap<string, string>,
    lastIndex: ReadonlyMap<string, number> = new Map(),
  ) {
    if (policy?.responses) {
      const r = new Redactor({ ...policy, actions: new Map([...policy.actions].map(([t, a]) => [t, a === "flag" ? "flag" : "mask"])) });
      for (const [tag, n] of lastIndex) r.lastIndex.set(tag, n);
      this.redactor = r;
    }
  }

  /** Whether this redactor changes anything (else a surface may pass chunks through untouched). */
  get active(): boolean {
    return this.redactor !== undefined || this.tokens.size > 0;
  }

  /** Counts of what was masked in the answer. */
  get counts(): Record<string, number> {
    return this.redactor?.counts ?? {};
  }

  /** A whole answer text. */
  text(t: string): string {
    return this.restore(this.mask(t, 0));
  }

  /** A cursor for one streamed text (a choice's content, or one tool call's arguments). */
  stream(): StreamCursor {
    return new StreamCursor(this);
  }

  /** Mask entities of `t` that start at or after `from` (text before it is context only). */
  mask(t: string, from: number): string {
    const r = this.redactor;
    if (!r || !t) return t;
    const found: Finding[] = r.policy.scan(t).filter((f) => f.start >= from);
    return r.apply(t, found, { param: "response", source: "assistant" });
  }

  restore(t: string): string {
    if (this.tokens.size === 0 || !t.includes("<")) return t;
    return t.replace(PLACEHOLDER, (m) => this.tokens.get(m) ?? m);
  }

  /** Where a buffer may be cut so that nothing after the cut can still become an entity or a placeholder. */
  safeCut(buf: string): number {
    let cut = buf.length;
    const open = OPEN_PLACEHOLDER.exec(buf.length > MAX_PLACEHOLDER_LENGTH ? buf.slice(-MAX_PLACEHOLDER_LENGTH) : buf);
    if (open) cut = buf.length - open[0].length;
    if (this.redactor) {
      const head = buf.slice(0, cut);
      const ws = Math.max(head.lastIndexOf(" "), head.lastIndexOf("\n"), head.lastIndexOf("\t"));
      cut = ws + 1;
      const spaced = SPACED_NUMBER_TAIL.exec(head.slice(Math.max(0, cut - 64), cut));
      if (spaced && /\d.*\d/.test(spaced[0])) cut -= spaced[0].length;
    }
    return Math.max(cut, buf.length - MAX_HOLD, 0);
  }
}

/**
 * One streamed text through the redactor: each push returns what is safe to send now, holding
 * back only a tail that could still turn into an entity or a placeholder (at most one word
 * or spaced number, or an unfinished `<TYPE_n`), and end() returns the rest.
 */
export class StreamCursor {
  private pending = "";
  private context = "";
  /** Characters held back across all pushes (for the delay figure). */
  heldChars = 0;

  /** Characters held back right now. */
  get holding(): number {
    return this.pending.length;
  }

  constructor(private readonly r: ResponseRedactor) {}

  push(delta: string): string {
    if (!delta) return "";
    const buf = this.pending + delta;
    const cut = this.r.safeCut(buf);
    this.pending = buf.slice(cut);
    this.heldChars += this.pending.length;
    return this.emit(buf.slice(0, cut));
  }

  end(): string {
    const rest = this.pending;
    this.pending = "";
    return this.emit(rest);
  }

  private emit(ready: string): string {
    if (!ready) return "";
    const withContext = this.context + ready;
    const masked = this.r.mask(withContext, this.context.length);
    // Masking never touches the context part: it is a prefix of the result.
    const out = this.r.restore(masked.slice(this.context.length));
    this.context = withContext.slice(-CONTEXT);
    return out;
  }
}
