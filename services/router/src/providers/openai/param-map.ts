/**
 * Per-provider parameter maps, as data (Portkey's `{ param, default, min, max, transform }`):
 * every provider of the OpenAI family receives the same OpenAI-shaped body, then its map
 * renames, drops, bounds or rewrites the parameters it treats differently. Each rule says
 * why, with its source, so a map reads as the provider's documented differences.
 */
import { TesseraError } from "@tessera/runtime";

/** What a rule's transform may look at besides the value. */
export interface ParamContext {
  /** Provider id from configuration, for error messages. */
  provider: string;
  /** The whole OpenAI-shaped body before the map ran (read it, do not change it). */
  body: Readonly<Record<string, unknown>>;
  /** Azure's api-version, for rules that depend on it. */
  apiVersion?: string | undefined;
}

/** What one provider does with one OpenAI parameter. Rules apply in this order. */
export interface ParamRule {
  /** Sent when the caller gave none. */
  default?: unknown;
  /** Leave the parameter out: the provider rejects or ignores it. */
  drop?: true;
  /** Bounds for a number: a value outside is clamped, or refused when `strict`. */
  min?: number;
  max?: number;
  /** Refuse an out-of-range value with a 400 naming the parameter instead of clamping it. */
  strict?: true;
  /**
   * Rewrite the value; `undefined` leaves the parameter out. May throw a TesseraError to
   * refuse the request before any I/O.
   */
  transform?: (value: unknown, ctx: ParamContext) => unknown;
  /** The provider's name for the parameter (a rename), e.g. Mistral's `random_seed`. */
  param?: string;
  /** Why the provider differs, with the source (documentation, issue, recorded error). */
  why: string;
}

/** A provider's rules, keyed by the OpenAI parameter name. */
export type ParamMap = Readonly<Record<string, ParamRule>>;

function outOfRange(key: string, value: number, rule: ParamRule, provider: string): TesseraError {
  const range = rule.min !== undefined && rule.max !== undefined ? `between ${rule.min} and ${rule.max}` : rule.max !== undefined ? `at most ${rule.max}` : `at least ${rule.min}`;
  return new TesseraError("invalid_request", `Invalid value for '${key}': ${provider} accepts ${range}, but got ${value}.`, { param: key, code: "unsupported_value" });
}

/** Clamp (or refuse, when strict) a number outside the rule's bounds. */
function bound(key: string, value: unknown, rule: ParamRule, provider: string): unknown {
  if (typeof value !== "number") return value;
  const low = rule.min !== undefined && value < rule.min;
  const high = rule.max !== undefined && value > rule.max;
  if (!low && !high) return value;
  if (rule.strict) throw outOfRange(key, value, rule, provider);
  return low ? rule.min : rule.max;
}

/**
 * Apply a map to an OpenAI-shaped body and return the provider's body. Parameters the map
 * does not name pass unchanged; the input is not modified.
 */
export function applyParamMap(body: object, map: ParamMap, ctx: Omit<ParamContext, "body">): Record<string, unknown> {
  const source = body as Record<string, unknown>;
  const rest: Record<string, unknown> = { ...source };
  const mapped: Record<string, unknown> = {};
  const full: ParamContext = { ...ctx, body: source };
  for (const [key, rule] of Object.entries(map)) {
    let value = source[key] === undefined ? rule.default : source[key];
    delete rest[key];
    if (rule.drop || value === undefined) continue;
    value = bound(key, value, rule, ctx.provider);
    if (rule.transform) value = rule.transform(value, full);
    if (value !== undefined) mapped[rule.param ?? key] = value;
  }
  return { ...rest, ...mapped };
}

/**
 * Rules every OpenAI-family provider shares; a provider's own map is spread over them, so a
 * rule of the same key replaces the shared one.
 */
export const FAMILY_CHAT_PARAMS: ParamMap = {
  parallel_tool_calls: {
    transform: (v, ctx) => (Array.isArray(ctx.body["tools"]) && ctx.body["tools"].length > 0 ? v : undefined),
    why:
      "OpenAI answers 400 \"Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.\" " +
      "(recorded in github.com/Upsonic/Upsonic/issues/323); camel-ai/camel#3706 drops it for OpenAI, Azure and compatible servers alike.",
  },
};
