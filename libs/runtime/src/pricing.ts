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

/** The price table, indexed once. */
export interface PriceTable {
  /** The price of a provider model: an entry for that provider first, then one for any provider. */
  price(provider: string, model: string): Price | undefined;
  /** The cost in USD of a call (0 when the model has no price). */
  cost(provider: string, model: string, t: TokenCounts): number;
}

/**
 * Build the price table from the configuration's `prices`. Cached prompt tokens are priced at
 * cached_input and reasoning tokens at reasoning (each defaulting to the input/output price);
 * the rest of the prompt and completion at input and output.
 */
export function createPriceTable(prices: Config["prices"]): PriceTable {
  const byKey = new Map<string, Price>();
  for (const p of prices) {
    const key = `${p.provider ?? "*"}\u0000${p.model}`;
    if (byKey.has(key)) continue;
    byKey.set(key, { input: p.input, output: p.output, cachedInput: p.cached_input ?? p.input, reasoning: p.reasoning ?? p.output });
  }
  const price = (provider: string, model: string) => byKey.get(`${provider}\u0000${model}`) ?? byKey.get(`*\u0000${model}`);
  return {
    price,
    cost(provider, model, t) {
      const p = price(provider, model);
      if (!p) return 0;
      const cached = Math.min(t.cachedTokens, t.promptTokens);
      const reasoning = Math.min(t.reasoningTokens, t.completionTokens);
      return (
        ((t.promptTokens - cached) * p.input + cached * p.cachedInput + (t.completionTokens - reasoning) * p.output + reasoning * p.reasoning) / 1e6
      );
    },
  };
}
