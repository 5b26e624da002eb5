import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  ChatRequestSchema,
  ContentPartSchema,
  MessageSchema,
  ResponseFormatSchema,
  Role,
  ToolCallSchema,
  ToolChoiceSchema,
  ToolSchema,
  type ChatRequest,
  type ContentPart,
  type Message,
} from "@tessera/gen/tessera/chat/v1/chat_pb";
import { isObject, TesseraError, typeName } from "@tessera/runtime";
import type { OpenAIChatRequest, OpenAIContentPart, OpenAIMessage, OpenAITool } from "./wire.js";

/**
 * Request parameters OpenAI accepts that Tessera does not act on yet; they are accepted and
 * dropped rather than rejected, so SDK callers that set them keep working.
 */
const IGNORED_PARAMS = new Set([
  "logprobs",
  "top_logprobs",
  "logit_bias",
  "store",
  "service_tier",
  "modalities",
  "audio",
  "prediction",
  "web_search_options",
  "functions",
  "function_call",
  "verbosity",
  "prompt_cache_key",
  "safety_identifier",
]);

const KNOWN_PARAMS = new Set([
  "model",
  "messages",
  "temperature",
  "top_p",
  "max_tokens",
  "max_completion_tokens",
  "stop",
  "n",
  "presence_penalty",
  "frequency_penalty",
  "seed",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "response_format",
  "user",
  "metadata",
  "stream",
  "stream_options",
  "reasoning_effort",
]);

const ROLES: Record<string, Role> = {
  system: Role.SYSTEM,
  developer: Role.DEVELOPER,
  user: Role.USER,
  assistant: Role.ASSISTANT,
  tool: Role.TOOL,
};

function bad(param: string, message: string): TesseraError {
  return new TesseraError("invalid_request", message, { param, code: "invalid_value" });
}

function expectString(v: unknown, param: string): string {
  if (typeof v !== "string") throw bad(param, `Invalid type for '${param}': expected a string, but got ${typeName(v)} instead.`);
  return v;
}

function optNumber(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v))
    throw bad(key, `Invalid type for '${key}': expected a number, but got ${typeName(v)} instead.`);
  if (v < min || v > max) throw bad(key, `Invalid value for '${key}': ${v} is out of range [${min}, ${max}].`);
  return v;
}

function optInt(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = optNumber(body, key, min, max);
  if (v !== undefined && !Number.isInteger(v))
    throw bad(key, `Invalid type for '${key}': expected an integer, but got a decimal number instead.`);
  return v;
}

function optBool(body: Record<string, unknown>, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw bad(key, `Invalid type for '${key}': expected a boolean, but got ${typeName(v)} instead.`);
  return v;
}

/** data:image/<type>;base64,<payload>: what every provider that takes inline images reads. */
const DATA_IMAGE = /^data:image\/(png|jpeg|jpg|gif|webp);base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * An image URL must be http(s) with a host, or a base64 data URI of a common image type with
 * a payload that decodes: a broken one is the caller's 400 here, not a provider error later.
 */
function checkImageUrl(url: string, param: string): void {
  const fail = (why: string) => bad(param, `Invalid image URL in '${param}': ${why}`);
  if (/^https?:\/\//i.test(url)) {
    if (!URL.canParse(url)) throw fail("not a valid http(s) URL.");
    return;
  }
  if (!/^data:/i.test(url)) throw fail("expected an http(s) URL or a data:image/ URI.");
  const m = DATA_IMAGE.exec(url);
  if (!m) throw fail("a data URI must be data:image/png|jpeg|gif|webp;base64,<data>.");
  const payload = url.slice(m[0].length);
  if (payload.length === 0 || payload.length % 4 === 1 || !BASE64.test(payload)) throw fail("the data URI's payload is not valid base64.");
}

function parseParts(parts: unknown[], param: string): ContentPart[] {
  return parts.map((p, i) => {
    const at = `${param}[${i}]`;
    if (!isObject(p)) throw bad(at, `Invalid type for '${at}': expected an object, but got ${typeName(p)} instead.`);
    const part = p as Partial<OpenAIContentPart> & Record<string, unknown>;
    if (part.type === "text") return create(ContentPartSchema, { part: { case: "text", value: expectString(part["text"], `${at}.text`) } });
    if (part.type === "image_url") {
      const img = part["image_url"];
      if (!isObject(img)) throw bad(`${at}.image_url`, `Invalid type for '${at}.image_url': expected an object, but got ${typeName(img)} instead.`);
      const url = expectString(img["url"], `${at}.image_url.url`);
      checkImageUrl(url, `${at}.image_url.url`);
      const detail = img["detail"] === undefined ? "" : expectString(img["detail"], `${at}.image_url.detail`);
      return create(ContentPartSchema, { part: { case: "imageUrl", value: { url, detail } } });
    }
    throw bad(`${at}.type`, `Invalid value for '${at}.type': ${JSON.stringify(part.type)} is not supported; use 'text' or 'image_url'.`);
  });
}

function parseMessage(raw: unknown, i: number): Message {
  const at = `messages[${i}]`;
  if (!isObject(raw)) throw bad(at, `Invalid type for '${at}': expected an object, but got ${typeName(raw)} instead.`);
  const m = raw as Partial<OpenAIMessage> & Record<string, unknown>;
  const roleName = expectString(m.role, `${at}.role`);
  const role = ROLES[roleName];
  if (role === undefined)
    throw bad(`${at}.role`, `Invalid value for '${at}.role': '${roleName}' is not one of 'system', 'developer', 'user', 'assistant', 'tool'.`);
  const msg = create(MessageSchema, { role });
  const content = m.content;
  if (typeof content === "string") msg.content = content;
  else if (Array.isArray(content)) msg.parts = parseParts(content, `${at}.content`);
  else if (content === null || content === undefined) {
    if (role !== Role.ASSISTANT)
      throw bad(`${at}.content`, `Missing required parameter: '${at}.content'.`);
  } else throw bad(`${at}.content`, `Invalid type for '${at}.content': expected a string or an array of content parts, but got ${typeName(content)} instead.`);
  if (m.name !== undefined) msg.name = expectString(m.name, `${at}.name`);
  if (m.tool_calls !== undefined && m.tool_calls !== null) {
    if (role !== Role.ASSISTANT) throw bad(`${at}.tool_calls`, `'${at}.tool_calls' is only allowed on assistant messages.`);
    if (!Array.isArray(m.tool_calls)) throw bad(`${at}.tool_calls`, `Invalid type for '${at}.tool_calls': expected an array, but got ${typeName(m.tool_calls)} instead.`);
    msg.toolCalls = m.tool_calls.map((tc: unknown, j: number) => {
      const tat = `${at}.tool_calls[${j}]`;
      if (!isObject(tc) || !isObject(tc["function"])) throw bad(tat, `Invalid '${tat}': expected {id, type: 'function', function: {name, arguments}}.`);
      const fn = tc["function"];
      return create(ToolCallSchema, {
        id: expectString(tc["id"], `${tat}.id`),
        type: "function",
        function: { name: expectString(fn["name"], `${tat}.function.name`), arguments: expectString(fn["arguments"] ?? "", `${tat}.function.arguments`) },
      });
    });
  }
  if (role === Role.TOOL) msg.toolCallId = expectString(m.tool_call_id, `${at}.tool_call_id`);
  if (typeof m.refusal === "string") msg.refusal = m.refusal;
  return msg;
}

function parseTool(raw: unknown, i: number) {
  const at = `tools[${i}]`;
  if (!isObject(raw)) throw bad(at, `Invalid type for '${at}': expected an object, but got ${typeName(raw)} instead.`);
  const t = raw as Partial<OpenAITool>;
  if (t.type !== "function") throw bad(`${at}.type`, `Invalid value for '${at}.type': only 'function' tools are supported.`);
  if (!isObject(t.function)) throw bad(`${at}.function`, `Missing required parameter: '${at}.function'.`);
  const fn = t.function;
  const name = expectString(fn.name, `${at}.function.name`);
  if (!/^[a-zA-Z0-9_-]{1,64}$/.test(name))
    throw bad(`${at}.function.name`, `Invalid '${at}.function.name': must be 1-64 characters of a-z, A-Z, 0-9, underscores and dashes.`);
  if (fn.parameters !== undefined && !isObject(fn.parameters))
    throw bad(`${at}.function.parameters`, `Invalid type for '${at}.function.parameters': expected a JSON Schema object, but got ${typeName(fn.parameters)} instead.`);
  return create(ToolSchema, {
    type: "function",
    function: {
      name,
      description: fn.description === undefined ? "" : expectString(fn.description, `${at}.function.description`),
      parameters: fn.parameters as JsonObject | undefined,
      strict: typeof fn.strict === "boolean" ? fn.strict : undefined,
    },
  });
}

/** What a REST call asked for beyond the unified request. */
export interface ParsedOpenAIRequest {
  request: ChatRequest;
  stream: boolean;
}

/**
 * Validate an OpenAI chat-completions body and turn it into the unified request. Errors are
 * TesseraErrors naming the parameter, worded like OpenAI's own.
 */
export function parseOpenAIChatRequest(body: unknown): ParsedOpenAIRequest {
  if (!isObject(body)) throw bad("", `Invalid request body: expected a JSON object, but got ${typeName(body)} instead.`);
  for (const key of Object.keys(body)) {
    if (!KNOWN_PARAMS.has(key) && !IGNORED_PARAMS.has(key))
      throw new TesseraError("invalid_request", `Unrecognized request argument supplied: ${key}`, { param: key, code: "unknown_parameter" });
  }
  const b = body as Partial<OpenAIChatRequest> & Record<string, unknown>;
  if (b.model === undefined) throw new TesseraError("invalid_request", "Missing required parameter: 'model'.", { param: "model", code: "missing_required_parameter" });
  const model = expectString(b.model, "model");
  if (model === "") throw bad("model", "Invalid value for 'model': must not be empty.");
  if (b.messages === undefined) throw new TesseraError("invalid_request", "Missing required parameter: 'messages'.", { param: "messages", code: "missing_required_parameter" });
  if (!Array.isArray(b.messages)) throw bad("messages", `Invalid type for 'messages': expected an array, but got ${typeName(b.messages)} instead.`);
  if (b.messages.length === 0) throw bad("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1.");
  const req = create(ChatRequestSchema, { model, messages: b.messages.map(parseMessage) });
  req.temperature = optNumber(b, "temperature", 0, 2);
  req.topP = optNumber(b, "top_p", 0, 1);
  req.maxTokens = optInt(b, "max_completion_tokens", 1, 1e9) ?? optInt(b, "max_tokens", 1, 1e9);
  req.n = optInt(b, "n", 1, 128);
  req.presencePenalty = optNumber(b, "presence_penalty", -2, 2);
  req.frequencyPenalty = optNumber(b, "frequency_penalty", -2, 2);
  const seed = optInt(b, "seed", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  if (seed !== undefined) req.seed = BigInt(seed);
  req.parallelToolCalls = optBool(b, "parallel_tool_calls");
  if (b.stop !== undefined && b.stop !== null) {
    if (typeof b.stop === "string") req.stop = [b.stop];
    else if (Array.isArray(b.stop)) req.stop = b.stop.map((s, i) => expectString(s, `stop[${i}]`));
    else throw bad("stop", `Invalid type for 'stop': expected a string or an array of strings, but got ${typeName(b.stop)} instead.`);
  }
  if (b.tools !== undefined && b.tools !== null) {
    if (!Array.isArray(b.tools)) throw bad("tools", `Invalid type for 'tools': expected an array, but got ${typeName(b.tools)} instead.`);
    req.tools = b.tools.map(parseTool);
  }
  if (b.tool_choice !== undefined && b.tool_choice !== null) {
    const tc = b.tool_choice as unknown;
    if (tc === "none" || tc === "auto" || tc === "required") req.toolChoice = create(ToolChoiceSchema, { choice: { case: "mode", value: tc } });
    else if (isObject(tc) && tc["type"] === "function" && isObject(tc["function"]))
      req.toolChoice = create(ToolChoiceSchema, { choice: { case: "functionName", value: expectString(tc["function"]["name"], "tool_choice.function.name") } });
    else throw bad("tool_choice", "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {type: 'function', function: {name}}.");
  }
  if (b.response_format !== undefined && b.response_format !== null) {
    const rf = b.response_format as unknown;
    if (!isObject(rf)) throw bad("response_format", `Invalid type for 'response_format': expected an object, but got ${typeName(rf)} instead.`);
    const type = expectString(rf["type"], "response_format.type");
    if (type === "text" || type === "json_object") req.responseFormat = create(ResponseFormatSchema, { type });
    else if (type === "json_schema") {
      const js = rf["json_schema"];
      if (!isObject(js)) throw bad("response_format.json_schema", "Missing required parameter: 'response_format.json_schema'.");
      if (js["schema"] !== undefined && !isObject(js["schema"])) throw bad("response_format.json_schema.schema", "Invalid type for 'response_format.json_schema.schema': expected an object.");
      req.responseFormat = create(ResponseFormatSchema, {
        type,
        schemaName: expectString(js["name"], "response_format.json_schema.name"),
        schema: js["schema"] as JsonObject | undefined,
        strict: typeof js["strict"] === "boolean" ? js["strict"] : undefined,
      });
    } else throw bad("response_format.type", `Invalid value for 'response_format.type': '${type}' is not one of 'text', 'json_object', 'json_schema'.`);
  }
  if (b.user !== undefined) req.user = expectString(b.user, "user");
  if (b.reasoning_effort !== undefined && b.reasoning_effort !== null) req.reasoningEffort = expectString(b.reasoning_effort, "reasoning_effort");
  if (b.metadata !== undefined && b.metadata !== null) {
    if (!isObject(b.metadata)) throw bad("metadata", `Invalid type for 'metadata': expected an object, but got ${typeName(b.metadata)} instead.`);
    for (const [k, v] of Object.entries(b.metadata)) req.metadata[k] = expectString(v, `metadata.${k}`);
  }
  const stream = optBool(b, "stream") ?? false;
  if (b.stream_options !== undefined && b.stream_options !== null) {
    if (!stream) throw bad("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.");
    if (!isObject(b.stream_options)) throw bad("stream_options", `Invalid type for 'stream_options': expected an object.`);
    req.includeUsage = optBool(b.stream_options, "include_usage") ?? false;
  }
  return { request: req, stream };
}
