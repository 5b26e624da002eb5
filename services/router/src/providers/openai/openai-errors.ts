/**
 * Error bodies and headers of the OpenAI family, read once for every member. The envelopes
 * seen in the wild:
 *  - OpenAI, Azure, Ollama, newer vLLM: `{"error": {"message", "type", "param", "code", …}}`,
 *    Azure adding `innererror` (`inner_error` in its spec) with content filter results;
 *  - vLLM's auth middleware: `{"error": "Unauthorized"}`;
 *  - Mistral: `{"object": "error", "message", "type", "param", "code"}`, where `message` may
 *    be a pydantic `{"detail": [...]}` object (422), or just `{"message": "…"}` (401, 429);
 *  - FastAPI defaults: `{"detail": "Unauthorized"}` or `{"detail": [{loc, msg}]}`.
 */
import type { IncomingHttpHeaders } from "node:http";
import { isObject } from "@tessera/runtime";
import { ProviderError, upstreamStatusError } from "../errors.js";
import { excerpt, retryAfterSeconds } from "../http-adapter.js";

/** What an error body says. */
export interface FamilyErrorInfo {
  message: string;
  /** `error.type` / `type`, when given. */
  type?: string | undefined;
  /** `error.code` / `code` as text (Azure sends "429", Mistral "1300"). */
  code?: string | undefined;
  /** Azure's `innererror.code`, e.g. ResponsibleAIPolicyViolation. */
  innerCode?: string | undefined;
  /** Azure content filter categories that were filtered (hate, jailbreak, …). */
  filtered: string[];
}

function text(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  return undefined;
}

/** A pydantic / FastAPI `detail`: a string, or `[{loc, msg}]` → "body.stream_options: Extra inputs are not permitted". */
function detailText(detail: unknown): string | undefined {
  if (typeof detail === "string") return detail;
  if (!Array.isArray(detail)) return undefined;
  const parts = detail.filter(isObject).map((d) => {
    const loc = Array.isArray(d["loc"]) ? d["loc"].map(String).join(".") : "";
    const msg = text(d["msg"]) ?? "invalid";
    return loc ? `${loc}: ${msg}` : msg;
  });
  return parts.length > 0 ? parts.join("; ") : undefined;
}

/** Azure's content filter result → the categories marked `filtered: true`. */
function filteredCategories(inner: Record<string, unknown>): string[] {
  const result = inner["content_filter_result"] ?? inner["content_filter_results"];
  if (!isObject(result)) return [];
  return Object.entries(result)
    .filter(([, v]) => isObject(v) && v["filtered"] === true)
    .map(([k]) => k);
}

function fromErrorObject(e: Record<string, unknown>): FamilyErrorInfo {
  const inner = e["innererror"] ?? e["inner_error"];
  const innerObj = isObject(inner) ? inner : {};
  return {
    message: text(e["message"]) ?? detailText(e["message"]) ?? "(no message)",
    type: text(e["type"]),
    code: text(e["code"]),
    innerCode: text(innerObj["code"]),
    filtered: filteredCategories(innerObj),
  };
}

function fromTopLevel(j: Record<string, unknown>): FamilyErrorInfo | undefined {
  const m = j["message"];
  const message = text(m) ?? (isObject(m) ? detailText(m["detail"]) : undefined) ?? detailText(j["detail"]);
  if (message === undefined) return undefined;
  return { message, type: text(j["type"]), code: text(j["code"]), filtered: [] };
}

/** Read any of the family's error bodies (an excerpt of the text when it is none of them). */
export function parseFamilyError(body: string): FamilyErrorInfo {
  let j: unknown;
  try {
    j = JSON.parse(body);
  } catch {
    return { message: excerpt(body), filtered: [] };
  }
  if (isObject(j)) {
    if (typeof j["error"] === "string") return { message: j["error"], filtered: [] };
    if (isObject(j["error"])) return fromErrorObject(j["error"]);
    const top = fromTopLevel(j);
    if (top) return top;
  }
  return { message: excerpt(body), filtered: [] };
}

function header(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

/**
 * Seconds to wait before retrying: Azure's `retry-after-ms` when present (rounded up to
 * whole seconds), else `Retry-After` (seconds or an HTTP date).
 */
export function retryAfterFromHeaders(headers: IncomingHttpHeaders): number | undefined {
  const ms = header(headers["retry-after-ms"])?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms) / 1000);
  return retryAfterSeconds(headers["retry-after"]);
}

/** True for Azure's prompt content filter refusal (HTTP 400, code content_filter). */
function isContentFilter(status: number, e: FamilyErrorInfo): boolean {
  return status === 400 && (e.code === "content_filter" || e.innerCode === "ResponsibleAIPolicyViolation");
}

/**
 * A status ≥ 400 from an OpenAI-family provider → ProviderError. Azure's content filter
 * refusal becomes a clear invalid_request (code content_filter, not retryable: the same
 * prompt would be refused again); everything else takes the shared status mapping, with the
 * wait from `retry-after-ms` / `Retry-After`.
 */
export function familyStatusError(provider: string, status: number, body: string, headers: IncomingHttpHeaders): ProviderError {
  const e = parseFamilyError(body);
  if (isContentFilter(status, e)) {
    const why = e.filtered.length > 0 ? ` (${e.filtered.join(", ")})` : "";
    return new ProviderError("invalid_request", `${provider}'s content filter refused the prompt${why}: ${e.message}`, false, { status: 400, code: "content_filter" });
  }
  return upstreamStatusError(provider, status, e.message, retryAfterFromHeaders(headers));
}
