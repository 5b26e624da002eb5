import { TesseraError } from "@tessera/runtime";

/** A provider failure, with whether retrying (here or on another deployment) may help. */
export class ProviderError extends TesseraError {
  constructor(
    kind: TesseraError["kind"],
    message: string,
    readonly retryable: boolean,
    details: TesseraError["details"] = {},
  ) {
    super(kind, message, details);
  }
}

/**
 * Map an upstream HTTP status and error message to a ProviderError. 429 and 5xx are
 * retryable; 400/404/422 are the caller's request and pass through as invalid requests;
 * 401/403 mean the gateway's provider key is wrong, which the caller cannot fix.
 */
export function upstreamStatusError(provider: string, status: number, message: string, retryAfterS?: number): ProviderError {
  const msg = `${provider} returned ${status}: ${message}`;
  if (status === 429) return new ProviderError("rate_limited", msg, true, retryAfterS === undefined ? { code: "upstream_rate_limited" } : { code: "upstream_rate_limited", retryAfterS });
  if (status === 408 || status === 504) return new ProviderError("timeout", msg, true, { code: "upstream_timeout" });
  if (status >= 500) return new ProviderError("upstream_error", msg, true, { code: "upstream_error" });
  if (status === 401 || status === 403)
    return new ProviderError("upstream_error", `${provider} rejected the gateway's credentials (${status}); the operator must fix the provider API key`, false, { code: "upstream_auth" });
  return new ProviderError("invalid_request", msg, false, { status: status === 404 ? 404 : 400, code: "upstream_invalid_request" });
}
