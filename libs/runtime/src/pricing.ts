import type { Config } from "./config.js";

/** A provider model's price in USD per million tokens of each kind. */
export interface Price {
  input: number;
  output: number;
  cachedInput: number;
  reasoning: number;
}

/** Token counts of a call, as providers report them. */
export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens read from the provider's cache (a part of promptTokens). */
  cachedTokens: number;
  /** Hidden reasoning tokens (a part of completionTokens). */
  reasoningTokens: number;
}

/**
 * A call's cost by kind of token, in pico-dollars (1e-12 USD). A price in USD per million
 * tokens with at most six decimals is a whole number of pico-dollars per token, so every
 * amount here, and every sum of them, is exact.
 */
export interface CostBreakdown {
  input: bigint;
  output: bigint;
  cached: bigint;
  reasoning: bigint;
  /** False when no price was in force for the model (every amount is then 0). */
  priced: boolean;
}

/** The price table, indexed once. */
export interface PriceTable {
  /**
   * The price of a provider model in force at `atMs` (default now): an entry for that
   * provider first, then one for any provider.
   */
  price(provider: string, model: string, atMs?: number): Price | undefined;
  /** The cost in USD of a call at `atMs` (default now); 0 when the model has no price. */
  cost(provider: string, model: string, t: TokenCounts, atMs?: number): number;
  /** The exact cost of a call by kind of token, at the price in force at `atMs`. */
  breakdown(provider: string, model: string, t: TokenCounts, atMs: number): CostBreakdown;
}

/** Pico-dollars in one USD. */
export const PICO_PER_USD = 1_000_000_000_000n;

/** A price (USD per million tokens) as pico-dollars per token; config checks it has ≤ 6 decimals. */
export function picoPerToken(usdPerMillion: number): bigint {
  return BigInt(Math.round(usdPerMillion * 1e6));
}

/** Whether a USD-per-million price is a whole number of pico-dollars per token. */
export function hasPicoPrecision(usdPerMillion: number): boolean {
  const scaled = usdPerMillion * 1e6;
  return Number.isSafeInteger(Math.round(scaled)) && Math.abs(scaled - Math.round(scaled)) < 1e-6;
}

/**
 * The start of a price version: a date (`2025-03-01`, midnight UTC) or a date and time with a
 * zone (`2025-03-01T12:00:00Z`, `…+02:00`), as Unix ms; undefined when it is neither.
 */
export function parseEffectiveFrom(text: string): number | undefined {
  const date = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const dateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text);
  if (!date && !dateTime) return undefined;
  const ms = Date.parse(date ? `${text}T00:00:00Z` : text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** One version of a price: in force from `fromMs` until the next version's start. */
interface Version {
  fromMs: number;
  price: Price;
  pico: { input: bigint; output: bigint; cachedInput: bigint; reasoning: bigint };
}

/** The version in force at `atMs` in a history sorted by start, or undefined before the first. */
function versionAt(history: readonly Version[], atMs: number): Version | undefined {
  let lo = 0;
  let hi = history.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (history[mid]!.fromMs <= atMs) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : history[lo - 1];
}

const NO_COST: CostBreakdown = { input: 0n, output: 0n, cached: 0n, reasoning: 0n, priced: false };

/**
 * Build the price table from the configuration's `prices`. Entries for the same model and
 * provider form a history ordered by `effective_from` (an entry without one applies from the
 * beginning); a lookup takes the version in force at the given time. Cached prompt tokens are
 * priced at cached_input and reasoning tokens at reasoning (each defaulting to the
 * input/output price); the rest of the prompt and completion at input and output.
 */
export function createPriceTable(prices: Config["prices"]): PriceTable {
  const histories = new Map<string, Version[]>();
  for (const p of prices) {
    const key = `${p.provider ?? "*"}\u0000${p.model}`;
    const price: Price = { input: p.input, output: p.output, cachedInput: p.cached_input ?? p.input, reasoning: p.reasoning ?? p.output };
    const fromMs = p.effective_from === undefined ? -Infinity : parseEffectiveFrom(p.effective_from);
    if (fromMs === undefined) throw new Error(`prices: effective_from "${p.effective_from}" is not an ISO date or date-time with a zone`);
    const pico = { input: picoPerToken(price.input), output: picoPerToken(price.output), cachedInput: picoPerToken(price.cachedInput), reasoning: picoPerToken(price.reasoning) };
    const history = histories.get(key) ?? [];
    if (history.some((v) => v.fromMs === fromMs)) continue; // the configuration check reports duplicates
    history.push({ fromMs, price, pico });
    histories.set(key, history);
  }
  for (const h of histories.values()) h.sort((a, b) => a.fromMs - b.fromMs);

  const version = (provider: string, model: string, atMs: number): Version | undefined => {
    const own = histories.get(`${provider}\u0000${model}`);
    const any = histories.get(`*\u0000${model}`);
    return (own && versionAt(own, atMs)) ?? (any && versionAt(any, atMs));
  };

  function breakdown(provider: string, model: string, t: TokenCounts, atMs: number): CostBreakdown {
    const v = version(provider, model, atMs);
    if (!v) return NO_COST;
    const cached = Math.min(t.cachedTokens, t.promptTokens);
    const reasoning = Math.min(t.reasoningTokens, t.completionTokens);
    return {
      input: BigInt(t.promptTokens - cached) * v.pico.input,
      cached: BigInt(cached) * v.pico.cachedInput,
      output: BigInt(t.completionTokens - reasoning) * v.pico.output,
      reasoning: BigInt(reasoning) * v.pico.reasoning,
      priced: true,
    };
  }

  return {
    price: (provider, model, atMs = Date.now()) => version(provider, model, atMs)?.price,
    breakdown,
    cost(provider, model, t, atMs = Date.now()) {
      const c = breakdown(provider, model, t, atMs);
      return Number(c.input + c.output + c.cached + c.reasoning) / 1e12;
    },
  };
}

/**
 * Pico-dollars as USD decimal text without trailing zeros ("0.00001875", "12", "-3.5"):
 * exact, for answers and for ClickHouse Decimal literals.
 */
export function formatPicoUsd(pico: bigint): string {
  const neg = pico < 0n;
  const abs = neg ? -pico : pico;
  const whole = abs / PICO_PER_USD;
  const frac = (abs % PICO_PER_USD).toString().padStart(12, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${whole}${frac ? `.${frac}` : ""}`;
}

/** USD decimal text (at most 12 decimals, as ClickHouse prints a Decimal(_, 12)) as pico-dollars. */
export function parseUsdToPico(text: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,12}))?$/.exec(text.trim());
  if (!m) throw new Error(`not a USD amount with at most 12 decimals: ${JSON.stringify(text)}`);
  const pico = BigInt(m[2]!) * PICO_PER_USD + BigInt((m[3] ?? "").padEnd(12, "0") || "0");
  return m[1] ? -pico : pico;
}
