/** The tightest request and token windows that applied to a call. */
export interface RateLimitInfo {
  /** Requests per minute (0: no request limit applied). */
  limitRequests: number;
  remainingRequests: number;
  resetRequestsMs: number;
  /** Tokens per minute (0: no token limit applied). */
  limitTokens: number;
  remainingTokens: number;
  resetTokensMs: number;
}

/** OpenAI's x-ratelimit-* headers for a rate-limit state (reset as e.g. "12s" or "250ms"). */
export function rateLimitHeaders(info: RateLimitInfo | undefined): Record<string, string> {
  const h: Record<string, string> = {};
  if (!info) return h;
  const dur = (ms: number) => (ms >= 1000 ? `${Math.ceil(ms / 1000)}s` : `${ms}ms`);
  if (info.limitRequests > 0) {
    h["x-ratelimit-limit-requests"] = String(info.limitRequests);
    h["x-ratelimit-remaining-requests"] = String(info.remainingRequests);
    h["x-ratelimit-reset-requests"] = dur(info.resetRequestsMs);
  }
  if (info.limitTokens > 0) {
    h["x-ratelimit-limit-tokens"] = String(info.limitTokens);
    h["x-ratelimit-remaining-tokens"] = String(info.remainingTokens);
    h["x-ratelimit-reset-tokens"] = dur(info.resetTokensMs);
  }
  return h;
}
