import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import { familyStatusError, parseFamilyError, retryAfterFromHeaders } from "./openai-errors.js";
import { assertProviderError } from "../adapter-test-kit.js";

const fixture = (folder: string, name: string) => readFileSync(new URL(`../${folder}/fixtures/${name}`, import.meta.url), "utf8");

/** [source, status, body, headers, kind, code, retryable, HTTP status, message pattern, retryAfterS] */
const cases: [string, number, string, IncomingHttpHeaders, string, string, boolean, number, RegExp, number | undefined][] = [
  ["openai/error-401-invalid-api-key", 401, fixture("openai", "error-401-invalid-api-key.json"), {}, "upstream_error", "upstream_auth", false, 502, /prov rejected the gateway's credentials \(401\)/, undefined],
  ["openai/error-400-embeddings-input", 400, fixture("openai", "error-400-embeddings-input.json"), {}, "invalid_request", "upstream_invalid_request", false, 400, /^prov returned 400: '\$\.input' is invalid\./, undefined],
  ["openai 429 with Retry-After", 429, '{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}', { "retry-after": "20" }, "rate_limited", "upstream_rate_limited", true, 429, /Rate limit reached/, 20],
  ["azure/error-400-content-filter-jailbreak", 400, fixture("azure", "error-400-content-filter-jailbreak.json"), {}, "invalid_request", "content_filter", false, 400, /^prov's content filter refused the prompt \(jailbreak\): The response was filtered/, undefined],
  ["azure/error-400-content-filter-hate", 400, fixture("azure", "error-400-content-filter-hate.json"), {}, "invalid_request", "content_filter", false, 400, /refused the prompt \(hate\)/, undefined],
  ["azure/error-401", 401, fixture("azure", "error-401.json"), {}, "upstream_error", "upstream_auth", false, 502, /operator must fix the provider API key/, undefined],
  ["azure/error-429 with retry-after-ms", 429, fixture("azure", "error-429.json"), { "retry-after-ms": "1500", "retry-after": "2" }, "rate_limited", "upstream_rate_limited", true, 429, /have exceeded token rate limit of your current AIServices S0 pricing tier/, 2],
  ["azure 500", 500, '{"error":{"code":"InternalServerError","message":"Backend returned unexpected response."}}', {}, "upstream_error", "upstream_error", true, 502, /Backend returned unexpected response/, undefined],
  ["mistral/error-422-extra-forbidden", 422, fixture("mistral", "error-422-extra-forbidden.json"), {}, "invalid_request", "upstream_invalid_request", false, 400, /prov returned 422: body\.stream_options\.include_usage: Extra inputs are not permitted/, undefined],
  ["mistral/error-400-tool-call-id", 400, fixture("mistral", "error-400-tool-call-id.json"), {}, "invalid_request", "upstream_invalid_request", false, 400, /Tool call id was abc123 but must be a-z, A-Z, 0-9, with a length of 9\./, undefined],
  ["mistral/error-429-rate-limited", 429, fixture("mistral", "error-429-rate-limited.json"), {}, "rate_limited", "upstream_rate_limited", true, 429, /prov returned 429: Rate limit exceeded/, undefined],
  ["mistral/error-429-requests", 429, fixture("mistral", "error-429-requests.json"), {}, "rate_limited", "upstream_rate_limited", true, 429, /Requests rate limit exceeded/, undefined],
  ["mistral/error-401", 401, fixture("mistral", "error-401.json"), {}, "upstream_error", "upstream_auth", false, 502, /rejected the gateway's credentials/, undefined],
  ["vLLM's auth middleware", 401, '{"error":"Unauthorized"}', {}, "upstream_error", "upstream_auth", false, 502, /rejected the gateway's credentials/, undefined],
  ["FastAPI's 404", 404, '{"detail":"Not Found"}', {}, "invalid_request", "upstream_invalid_request", false, 404, /prov returned 404: Not Found/, undefined],
  ["an HTML gateway page", 502, "<html><body>502 Bad Gateway</body></html>", {}, "upstream_error", "upstream_error", true, 502, /prov returned 502: <html><body>502 Bad Gateway<\/body><\/html>/, undefined],
];

for (const [name, status, body, headers, kind, code, retryable, httpStatus, message, retryAfterS] of cases) {
  test(`${name} (${status}) → ${kind} / ${code}`, () => {
    const err = familyStatusError("prov", status, body, headers);
    assertProviderError(err, kind, code, retryable, httpStatus);
    assert.match(err.message, message);
    assert.equal(err.details.retryAfterS, retryAfterS);
  });
}

test("parseFamilyError reads Azure's inner code and filtered categories", () => {
  const e = parseFamilyError(fixture("azure", "error-400-content-filter-hate.json"));
  assert.equal(e.code, "content_filter");
  assert.equal(e.innerCode, "ResponsibleAIPolicyViolation");
  assert.deepEqual(e.filtered, ["hate"]);
  assert.equal(e.message, "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.");
});

test("parseFamilyError reads Mistral's code and type", () => {
  const e = parseFamilyError(fixture("mistral", "error-429-rate-limited.json"));
  assert.deepEqual([e.message, e.type, e.code], ["Rate limit exceeded", "rate_limited", "1300"]);
});

const waits: [IncomingHttpHeaders, number | undefined][] = [
  [{ "retry-after-ms": "250" }, 1],
  [{ "retry-after-ms": "7000", "retry-after": "9" }, 7],
  [{ "retry-after-ms": "1500.5" }, 2],
  [{ "retry-after": "3" }, 3],
  [{ "retry-after-ms": "soon", "retry-after": "2" }, 2],
  [{}, undefined],
];
for (const [headers, seconds] of waits) {
  test(`retryAfterFromHeaders(${JSON.stringify(headers)}) = ${seconds}`, () => assert.equal(retryAfterFromHeaders(headers), seconds));
}
