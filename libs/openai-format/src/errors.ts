import type { TesseraError } from "@tessera/runtime";
import type { OpenAIErrorBody } from "./wire.js";

/** OpenAI's error `type` for each Tessera error kind. */
const TYPES: Record<TesseraError["kind"], string> = {
  invalid_request: "invalid_request_error",
  unauthenticated: "invalid_request_error",
  permission_denied: "invalid_request_error",
  not_found: "invalid_request_error",
  conflict: "invalid_request_error",
  payload_too_large: "invalid_request_error",
  rate_limited: "rate_limit_error",
  payment_required: "insufficient_quota",
  upstream_error: "api_error",
  unavailable: "api_error",
  timeout: "api_error",
  internal: "server_error",
};

/** Render a TesseraError as OpenAI's error JSON. */
export function errorToOpenAI(err: TesseraError): OpenAIErrorBody {
  return {
    error: {
      message: err.message,
      type: TYPES[err.kind],
      param: err.details.param ?? null,
      code: err.details.code ?? null,
    },
  };
}
