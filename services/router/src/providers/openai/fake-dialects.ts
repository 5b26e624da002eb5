/**
 * The dialects of the OpenAI-family fakes: what OpenAI's, Azure's, Mistral's and a vLLM-like
 * server answer, each in its documented wire format (see the fixtures in the provider
 * folders). Used by fake-family.ts only. Test code.
 */
import type * as http from "node:http";
import { SCENARIO_USAGE, scenarioArgFragments, scenarioTextPieces, type ScenarioAnswer } from "../fake-scenario.js";

/** The member whose dialect a family fake speaks. */
export type FamilyFlavour = "openai" | "azure" | "mistral" | "openai_compatible";

/** A JSON object. */
export type Json = Record<string, unknown>;

/** The two endpoints every member has. */
export type Endpoint = "chat" | "embeddings";

/** True for a JSON object. */
export const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** A reply the dialect writes. */
export interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** The request, routed. */
export interface Routed {
  endpoint: Endpoint;
  /** Azure's deployment (from the path); the body's model elsewhere. */
  model: string;
  /** Azure's api-version. */
  apiVersion: string;
}

// ---- usage ---------------------------------------------------------------------------------

const { prompt: P, completion: C, cached: CACHED, reasoning: REASONING } = SCENARIO_USAGE;

/** OpenAI / Azure usage, with the cached and reasoning details. */
const OPENAI_USAGE = {
  prompt_tokens: P,
  completion_tokens: C,
  total_tokens: P + C,
  prompt_tokens_details: { cached_tokens: CACHED, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: REASONING, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};
/** Mistral and plain servers report no details. */
const PLAIN_USAGE = { prompt_tokens: P, total_tokens: P + C, completion_tokens: C };

// ---- one answered call -------------------------------------------------------------------

/** One answered chat call, whatever the dialect. */
export interface Turn {
  id: string;
  created: number;
  model: string;
  answer: ScenarioAnswer;
  /** One id per tool call of the answer. */
  callIds: string[];
  finish: "stop" | "tool_calls";
}

const AZURE_SAFE = {
  hate: { filtered: false, severity: "safe" },
  self_harm: { filtered: false, severity: "safe" },
  sexual: { filtered: false, severity: "safe" },
  violence: { filtered: false, severity: "safe" },
};
/** Azure's annotation on a completion its filter stopped (content-filter-streaming docs). */
const AZURE_FILTERED = { protected_material_text: { detected: true, filtered: true } };

const AZURE_PROMPT_FILTER_CHUNK = { id: "", object: "", created: 0, model: "", prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_SAFE }], choices: [], usage: null };

function openAIMessage(t: Turn): Json {
  if (t.answer.kind === "text") return { role: "assistant", content: t.answer.text, refusal: null, annotations: [] };
  const calls = t.answer.calls.map((c, i) => ({ id: t.callIds[i], type: "function", function: { name: c.name, arguments: c.arguments } }));
  return { role: "assistant", content: null, tool_calls: calls, refusal: null, annotations: [] };
}

function mistralMessage(t: Turn): Json {
  if (t.answer.kind === "text") return { role: "assistant", tool_calls: null, content: t.answer.text };
  return { role: "assistant", tool_calls: t.answer.calls.map((c, i) => ({ id: t.callIds[i], function: { name: c.name, arguments: c.arguments } })) };
}

// ---- the dialects ------------------------------------------------------------------------

/** Everything that differs between the members' servers. */
export interface Dialect {
  /** Route a request path, or the 404 reply. */
  route(method: string, url: string, body: Json): Routed | Reply;
  /** The key the request carries ("" when none). */
  key(headers: http.IncomingHttpHeaders): string;
  /** The reply to a missing or wrong key. */
  unauthorized(key: string): Reply;
  /** Refuse what the real server refuses, before answering. */
  validate(endpoint: Endpoint, body: Json): Reply | undefined;
  rateLimited(r: Routed): Reply;
  serverError: Reply;
  badRequest: Reply;
  badJson: Reply;
  /** The chat.completion body. */
  completion(t: Turn, filtered: boolean): Json;
  /** The stream's data events (JSON objects), without [DONE]. */
  chunks(t: Turn, includeUsage: boolean, filtered: boolean): Json[];
  /** The embeddings body. */
  embeddings(model: string, data: Json[]): Json;
  /** Tool call id of call i of the seq-th answer. */
  callId(seq: number, i: number): string;
  /** Completion id of the seq-th answer. */
  completionId(seq: number): string;
}

const bearer = (h: http.IncomingHttpHeaders) => /^Bearer (.+)$/.exec(h["authorization"] ?? "")?.[1] ?? "";

/** OpenAI's error envelope. */
export function openAIError(message: string, type: string | null, param: string | null, code: string | null): Json {
  return { error: { message, type, param, code } };
}

function openAIRoute(method: string, url: string, body: Json): Routed | Reply {
  const endpoint = method === "POST" && url === "/v1/chat/completions" ? "chat" : method === "POST" && url === "/v1/embeddings" ? "embeddings" : undefined;
  if (!endpoint) return { status: 404, body: openAIError(`Invalid URL (${method} ${url})`, "invalid_request_error", null, null) };
  return { endpoint, model: String(body["model"] ?? ""), apiVersion: "" };
}

/** OpenAI-shaped chunks: role, content pieces or tool call fragments, finish, then usage. */
function openAIChunks(t: Turn, includeUsage: boolean, extra: Json): Json[] {
  const base = { id: t.id, object: "chat.completion.chunk", created: t.created, model: t.model, system_fingerprint: "fp_fake", ...extra };
  const chunk = (delta: Json, finish: string | null) => ({ ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  const out: Json[] = [];
  if (t.answer.kind === "text") {
    out.push(chunk({ role: "assistant", content: "", refusal: null }, null));
    for (const piece of scenarioTextPieces(t.answer.text)) out.push(chunk({ content: piece }, null));
  } else {
    out.push(chunk({ role: "assistant", content: null, refusal: null }, null));
    t.answer.calls.forEach((c, i) => {
      out.push(chunk({ tool_calls: [{ index: i, id: t.callIds[i], type: "function", function: { name: c.name, arguments: "" } }] }, null));
      for (const frag of scenarioArgFragments(c.arguments)) out.push(chunk({ tool_calls: [{ index: i, function: { arguments: frag } }] }, null));
    });
  }
  out.push(chunk({}, t.finish));
  if (includeUsage) out.push({ ...base, choices: [], usage: OPENAI_USAGE });
  return out;
}

const OPENAI: Dialect = {
  route: openAIRoute,
  key: bearer,
  unauthorized: (key) => ({
    status: 401,
    body: key
      ? openAIError(`Incorrect API key provided: ${key.slice(0, 3)}*****${key.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`, "invalid_request_error", null, "invalid_api_key")
      : openAIError(
          "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
          "invalid_request_error",
          null,
          null,
        ),
  }),
  validate(endpoint, body) {
    if (endpoint !== "chat") return undefined;
    if (body["parallel_tool_calls"] !== undefined && !(Array.isArray(body["tools"]) && body["tools"].length > 0))
      return { status: 400, body: openAIError("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.", "invalid_request_error", "parallel_tool_calls", "invalid_value") };
    if (body["max_tokens"] !== undefined && /^o\d/.test(String(body["model"])))
      return { status: 400, body: openAIError("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "invalid_request_error", "max_tokens", "unsupported_parameter") };
    return undefined;
  },
  rateLimited: (r) => ({
    status: 429,
    body: openAIError(`Rate limit reached for ${r.model} in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 7s.`, "requests", null, "rate_limit_exceeded"),
    headers: { "retry-after": "7" },
  }),
  serverError: { status: 500, body: openAIError("The server had an error while processing your request. Sorry about that!", "server_error", null, null) },
  badRequest: { status: 400, body: openAIError("Invalid value for 'temperature': must be at most 2.", "invalid_request_error", "temperature", "invalid_value") },
  badJson: { status: 400, body: openAIError("We could not parse the JSON body of your request.", "invalid_request_error", null, null) },
  completion: (t) => ({
    id: t.id,
    object: "chat.completion",
    created: t.created,
    model: t.model,
    choices: [{ index: 0, message: openAIMessage(t), logprobs: null, finish_reason: t.finish }],
    usage: OPENAI_USAGE,
    service_tier: "default",
    system_fingerprint: "fp_fake",
  }),
  chunks: (t, includeUsage) => openAIChunks(t, includeUsage, {}),
  embeddings: (model, data) => ({ object: "list", data, model, usage: { prompt_tokens: P, total_tokens: P } }),
  callId: (seq, i) => `call_fake${seq}_${i}`,
  completionId: (seq) => `chatcmpl-fake${seq}`,
};

function azureError(code: string, message: string): Json {
  return { error: { code, message } };
}

const AZURE_PATH = /^\/openai\/deployments\/([^/?]+)\/(chat\/completions|embeddings)(?:\?(.*))?$/;

/** Azure's prompt refusal, as Microsoft documents it (content filter concept page). */
export const AZURE_CONTENT_FILTER_BODY = {
  error: {
    message:
      "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
    type: null,
    param: "prompt",
    code: "content_filter",
    status: 400,
    innererror: {
      code: "ResponsibleAIPolicyViolation",
      content_filter_result: { ...AZURE_SAFE, hate: { filtered: true, severity: "high" }, jailbreak: { filtered: false, detected: false } },
    },
  },
};

const AZURE: Dialect = {
  route(method, url) {
    const m = method === "POST" ? AZURE_PATH.exec(url) : null;
    const apiVersion = new URLSearchParams(m?.[3] ?? "").get("api-version") ?? "";
    if (!m || !apiVersion) return { status: 404, body: azureError("404", "Resource not found") };
    return { endpoint: m[2] === "embeddings" ? "embeddings" : "chat", model: decodeURIComponent(m[1]!), apiVersion };
  },
  key: (h) => (typeof h["api-key"] === "string" ? h["api-key"] : ""),
  unauthorized: () => ({
    status: 401,
    body: azureError("401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."),
  }),
  validate: () => undefined,
  rateLimited: (r) => ({
    status: 429,
    body: azureError(
      "429",
      `Requests to the ${r.endpoint === "chat" ? "ChatCompletions_Create" : "Embeddings_Create"} Operation under Azure OpenAI API version ${r.apiVersion} have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 7 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.`,
    ),
    headers: { "retry-after": "7", "retry-after-ms": "7000" },
  }),
  serverError: { status: 500, body: openAIError("The server had an error processing your request. Sorry about that! You can retry your request, or contact us through an Azure support request.", "server_error", null, null) },
  badRequest: { status: 400, body: openAIError("Invalid value for 'temperature': must be at most 2.", "invalid_request_error", "temperature", "invalid_value") },
  badJson: { status: 400, body: openAIError("We could not parse the JSON body of your request.", "invalid_request_error", null, null) },
  completion(t, filtered) {
    const message = filtered ? { role: "assistant" } : openAIMessage(t);
    return {
      id: t.id,
      object: "chat.completion",
      created: t.created,
      model: t.model,
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: AZURE_SAFE }],
      choices: [{ index: 0, message, logprobs: null, finish_reason: filtered ? "content_filter" : t.finish, content_filter_results: filtered ? AZURE_FILTERED : AZURE_SAFE }],
      usage: OPENAI_USAGE,
      system_fingerprint: "fp_fake",
    };
  },
  chunks(t, includeUsage, filtered) {
    const all = [AZURE_PROMPT_FILTER_CHUNK, ...openAIChunks(t, includeUsage, { usage: null })];
    if (!filtered) return all;
    const annotation = {
      id: "",
      object: "",
      created: 0,
      model: "",
      choices: [{ index: 0, finish_reason: "content_filter", content_filter_results: AZURE_FILTERED, content_filter_offsets: { check_offset: 12, start_offset: 12, end_offset: 64 } }],
      usage: null,
    };
    return [...all.slice(0, 4), annotation];
  },
  embeddings: (model, data) => ({ object: "list", data, model, usage: { prompt_tokens: P, total_tokens: P } }),
  callId: (seq, i) => `call_fake${seq}_${i}`,
  completionId: (seq) => `chatcmpl-fake${seq}`,
};

/** Top-level fields Mistral's request schemas accept (mistralai/client-ts, docs.mistral.ai). */
const MISTRAL_FIELDS: Record<Endpoint, ReadonlySet<string>> = {
  chat: new Set([
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "prediction",
    "parallel_tool_calls",
    "safe_prompt",
    "reasoning_effort",
    "prompt_mode",
  ]),
  embeddings: new Set(["model", "input", "output_dimension", "output_dtype", "encoding_format"]),
};
const MISTRAL_ROLES = new Set(["system", "user", "assistant", "tool"]);
const MISTRAL_TOOL_CHOICES = new Set(["auto", "none", "any", "required"]);

function mistralError(message: unknown, type: string, code: string | null = null): Json {
  return { object: "error", message, type, param: null, code };
}

/** Mistral's pydantic 422, as recorded (dnakov/anon-kode#53). */
function mistral422(type: string, loc: (string | number)[], msg: string, input: unknown): Reply {
  return { status: 422, body: mistralError({ detail: [{ type, loc: ["body", ...loc], msg, input }] }, "invalid_request_error") };
}

function mistralValidateMessages(messages: unknown): Reply | undefined {
  if (!Array.isArray(messages)) return undefined;
  for (const [i, m] of messages.entries()) {
    if (!isObj(m)) continue;
    if (!MISTRAL_ROLES.has(String(m["role"]))) return mistral422("union_tag_invalid", ["messages", i], "Input tag does not match any of the expected tags: 'system', 'user', 'assistant', 'tool'", m["role"]);
    const ids = [...(Array.isArray(m["tool_calls"]) ? m["tool_calls"].filter(isObj).map((tc) => tc["id"]) : []), ...(m["role"] === "tool" ? [m["tool_call_id"]] : [])];
    const badId = ids.find((id) => typeof id !== "string" || !/^[a-zA-Z0-9]{9}$/.test(id));
    if (badId !== undefined) return { status: 400, body: mistralError(`Tool call id was ${String(badId)} but must be a-z, A-Z, 0-9, with a length of 9.`, "invalid_request_error") };
  }
  return undefined;
}

const MISTRAL: Dialect = {
  route: (method, url, body) => {
    const r = openAIRoute(method, url, body);
    return "endpoint" in r ? r : { status: 404, body: { detail: "Not Found" } };
  },
  key: bearer,
  unauthorized: () => ({ status: 401, body: { message: "Unauthorized", request_id: "c61f2f15feca71626a990e3740f99245" } }),
  validate(endpoint, body) {
    const extra = Object.keys(body).find((k) => !MISTRAL_FIELDS[endpoint].has(k));
    if (extra) return mistral422("extra_forbidden", [extra], "Extra inputs are not permitted", body[extra]);
    if (endpoint !== "chat") return undefined;
    const tc = body["tool_choice"];
    if (typeof tc === "string" && !MISTRAL_TOOL_CHOICES.has(tc)) return mistral422("enum", ["tool_choice"], "Input should be 'auto', 'none', 'any' or 'required'", tc);
    return mistralValidateMessages(body["messages"]);
  },
  rateLimited: () => ({ status: 429, body: mistralError("Rate limit exceeded", "rate_limited", "1300"), headers: { "retry-after": "7" } }),
  serverError: { status: 500, body: mistralError("Internal server error", "internal_server_error") },
  badRequest: { status: 400, body: mistralError("Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant", "invalid_request_error") },
  badJson: { status: 422, body: { detail: [{ type: "json_invalid", loc: ["body", 0], msg: "JSON decode error", input: {} }] } },
  completion: (t) => ({ id: t.id, created: t.created, model: t.model, usage: PLAIN_USAGE, object: "chat.completion", choices: [{ index: 0, finish_reason: t.finish, message: mistralMessage(t) }] }),
  chunks(t) {
    const base = { id: t.id, object: "chat.completion.chunk", created: t.created, model: t.model };
    const chunk = (delta: Json, finish: string | null, usage?: Json) => ({ ...base, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }], ...(usage ? { usage } : {}) });
    const out: Json[] = [chunk({ role: "assistant", content: "" }, null)];
    if (t.answer.kind === "text") {
      for (const piece of scenarioTextPieces(t.answer.text)) out.push(chunk({ content: piece }, null));
      out.push(chunk({ content: "" }, "stop", PLAIN_USAGE));
    } else {
      // Mistral sends the calls whole, without index or type, in the finishing chunk.
      const calls = t.answer.calls.map((c, i) => ({ id: t.callIds[i], function: { name: c.name, arguments: c.arguments } }));
      out.push(chunk({ content: null, tool_calls: calls }, "tool_calls", PLAIN_USAGE));
    }
    return out;
  },
  embeddings: (model, data) => ({ id: "fe87621011b544829fe9f966488f3d84", object: "list", data, model, usage: { ...PLAIN_USAGE, completion_tokens: 0, total_tokens: P } }),
  callId: (seq, i) => `F${String(seq % 1_000_000).padStart(6, "0")}X${i % 10}`,
  completionId: (seq) => seq.toString(16).padStart(32, "0"),
};

/** A vLLM-like server: OpenAI's bodies, vLLM's error envelopes, no usage details. */
const COMPATIBLE: Dialect = {
  ...OPENAI,
  route: (method, url, body) => {
    const r = openAIRoute(method, url, body);
    return "endpoint" in r ? r : { status: 404, body: { detail: "Not Found" } };
  },
  unauthorized: () => ({ status: 401, body: { error: "Unauthorized" } }),
  validate: () => undefined,
  serverError: { status: 500, body: { object: "error", message: "The engine crashed while processing the request.", type: "InternalServerError", param: null, code: 500 } },
  badRequest: { status: 400, body: { object: "error", message: "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.", type: "BadRequestError", param: null, code: 400 } },
  completion: (t) => ({ ...OPENAI.completion(t, false), usage: PLAIN_USAGE, service_tier: null, system_fingerprint: null }),
  chunks: (t, includeUsage) => openAIChunks(t, false, {}).concat(includeUsage ? [{ id: t.id, object: "chat.completion.chunk", created: t.created, model: t.model, choices: [], usage: PLAIN_USAGE }] : []),
};

/** Every member's dialect. */
export const DIALECTS: Record<FamilyFlavour, Dialect> = { openai: OPENAI, azure: AZURE, mistral: MISTRAL, openai_compatible: COMPATIBLE };
