import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  ChatRequestSchema,
  ContentPartSchema,
  MessageSchema,
  Role,
  ToolCallSchema,
  ToolChoiceSchema,
  ToolSchema,
  type ChatRequest,
  type ContentPart,
  type Message,
  type Tool,
} from "@tessera/gen/tessera/chat/v1/chat_pb";
import { isObject, TesseraError, typeName } from "@tessera/runtime";

/**
 * Parameters the Messages API accepts that Tessera does not act on; accepted and dropped so
 * SDK callers that set them keep working. (top_k has no unified counterpart; thinking and
 * the rest are Anthropic-only features.)
 */
const IGNORED_PARAMS = new Set(["top_k", "thinking", "service_tier", "container", "context_management", "mcp_servers", "inference_geo"]);

const KNOWN_PARAMS = new Set([
  "model",
  "max_tokens",
  "messages",
  "system",
  "tools",
  "tool_choice",
  "temperature",
  "top_p",
  "stop_sequences",
  "stream",
  "metadata",
]);

const MEDIA_TYPES: ReadonlySet<string> = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);

/**
 * Anthropic reports validation errors as `<dotted.path>: <what is wrong>` (e.g.
 * "max_tokens: Field required", "messages.0.content: Input should be a valid list"); the
 * param is the same dotted path.
 */
function bad(param: string, what: string, code = "invalid_value"): TesseraError {
  return new TesseraError("invalid_request", param ? `${param}: ${what}` : what, { param, code });
}

function missing(param: string): TesseraError {
  return bad(param, "Field required", "missing_required_parameter");
}

function expectString(v: unknown, param: string): string {
  if (v === undefined) throw missing(param);
  if (typeof v !== "string") throw bad(param, `Input should be a valid string, but got ${typeName(v)}`);
  return v;
}

function expectObject(v: unknown, param: string): Record<string, unknown> {
  if (v === undefined) throw missing(param);
  if (!isObject(v)) throw bad(param, `Input should be a valid dictionary or object, but got ${typeName(v)}`);
  return v;
}

function expectArray(v: unknown, param: string): unknown[] {
  if (v === undefined) throw missing(param);
  if (!Array.isArray(v)) throw bad(param, `Input should be a valid list, but got ${typeName(v)}`);
  return v;
}

function optNumber(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad(key, `Input should be a valid number, but got ${typeName(v)}`);
  if (v < min || v > max) throw bad(key, `Input should be between ${min} and ${max}, but got ${v}`);
  return v;
}

function optInt(body: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw bad(key, `Input should be a valid integer, but got ${typeof v === "number" ? "a decimal number" : typeName(v)}`);
  if (v < min || v > max) throw bad(key, `Input should be between ${min} and ${max}, but got ${v}`);
  return v;
}

function textPart(text: string): ContentPart {
  return create(ContentPartSchema, { part: { case: "text", value: text } });
}

/** An Anthropic image block → an image part: base64 as a data: URI, url as is. */
function imagePart(block: Record<string, unknown>, at: string): ContentPart {
  const src = expectObject(block["source"], `${at}.source`);
  const type = expectString(src["type"], `${at}.source.type`);
  if (type === "base64") {
    const mediaType = expectString(src["media_type"], `${at}.source.media_type`);
    if (!MEDIA_TYPES.has(mediaType))
      throw bad(`${at}.source.media_type`, `Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp', but got '${mediaType}'`);
    const data = expectString(src["data"], `${at}.source.data`);
    return create(ContentPartSchema, { part: { case: "imageUrl", value: { url: `data:${mediaType};base64,${data}`, detail: "" } } });
  }
  if (type === "url") {
    const url = expectString(src["url"], `${at}.source.url`);
    if (!/^https?:\/\//i.test(url)) throw bad(`${at}.source.url`, "Input should be an http(s) URL");
    return create(ContentPartSchema, { part: { case: "imageUrl", value: { url, detail: "" } } });
  }
  throw bad(`${at}.source.type`, `Input tag '${type}' does not match any of the expected tags: 'base64', 'url'`);
}

/** The text of a tool_result's content: a string or text blocks (images are not supported). */
function toolResultText(content: unknown, at: string): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  const blocks = expectArray(content, `${at}.content`);
  return blocks
    .map((b, k) => {
      const bat = `${at}.content.${k}`;
      const block = expectObject(b, bat);
      const type = expectString(block["type"], `${bat}.type`);
      if (type === "text") return expectString(block["text"], `${bat}.text`);
      if (type === "image") throw bad(`${bat}.type`, "Images inside tool_result are not supported by Tessera; send the image in a separate user content block", "unsupported_parameter");
      throw bad(`${bat}.type`, `Input tag '${type}' does not match any of the expected tags: 'text'`);
    })
    .join("\n");
}

/** One Anthropic message → one or more unified messages (tool results become tool messages). */
function parseMessage(raw: unknown, i: number): Message[] {
  const at = `messages.${i}`;
  const m = expectObject(raw, at);
  const roleName = expectString(m["role"], `${at}.role`);
  if (roleName !== "user" && roleName !== "assistant")
    throw bad(`${at}.role`, `Input should be 'user' or 'assistant', but got '${roleName}'`);
  const content = m["content"];
  if (content === undefined) throw missing(`${at}.content`);
  if (typeof content === "string") return [create(MessageSchema, { role: roleName === "user" ? Role.USER : Role.ASSISTANT, content })];
  const blocks = expectArray(content, `${at}.content`);

  if (roleName === "assistant") {
    const msg = create(MessageSchema, { role: Role.ASSISTANT });
    let text = "";
    blocks.forEach((b, k) => {
      const bat = `${at}.content.${k}`;
      const block = expectObject(b, bat);
      const type = expectString(block["type"], `${bat}.type`);
      if (type === "text") text += expectString(block["text"], `${bat}.text`);
      else if (type === "tool_use") {
        const input = expectObject(block["input"], `${bat}.input`);
        msg.toolCalls.push(
          create(ToolCallSchema, {
            id: expectString(block["id"], `${bat}.id`),
            type: "function",
            function: { name: expectString(block["name"], `${bat}.name`), arguments: JSON.stringify(input) },
          }),
        );
      } else if (type === "thinking" || type === "redacted_thinking") {
        // Earlier extended-thinking output: not content for other providers; dropped.
      } else throw bad(`${bat}.type`, `Input tag '${type}' does not match any of the expected tags in an assistant message: 'text', 'tool_use', 'thinking', 'redacted_thinking'`);
    });
    msg.content = text;
    return [msg];
  }

  // A user turn: tool_result blocks become tool messages (first, since they answer the
  // assistant turn right before); text and images become one user message after them.
  const out: Message[] = [];
  const parts: ContentPart[] = [];
  blocks.forEach((b, k) => {
    const bat = `${at}.content.${k}`;
    const block = expectObject(b, bat);
    const type = expectString(block["type"], `${bat}.type`);
    if (type === "text") parts.push(textPart(expectString(block["text"], `${bat}.text`)));
    else if (type === "image") parts.push(imagePart(block, bat));
    else if (type === "tool_result")
      out.push(
        create(MessageSchema, {
          role: Role.TOOL,
          toolCallId: expectString(block["tool_use_id"], `${bat}.tool_use_id`),
          content: toolResultText(block["content"], bat),
        }),
      );
    else if (type === "tool_use") throw bad(`${bat}.type`, "tool_use blocks are only allowed in assistant messages");
    else throw bad(`${bat}.type`, `Input tag '${type}' does not match any of the expected tags: 'text', 'image', 'tool_result'`);
  });
  if (parts.length === 1 && parts[0]!.part.case === "text") out.push(create(MessageSchema, { role: Role.USER, content: parts[0]!.part.value }));
  else if (parts.length > 0) out.push(create(MessageSchema, { role: Role.USER, parts }));
  else if (out.length === 0) out.push(create(MessageSchema, { role: Role.USER, content: "" }));
  return out;
}

function parseSystem(v: unknown): string {
  if (typeof v === "string") return v;
  const blocks = expectArray(v, "system");
  return blocks
    .map((b, k) => {
      const block = expectObject(b, `system.${k}`);
      const type = expectString(block["type"], `system.${k}.type`);
      if (type !== "text") throw bad(`system.${k}.type`, `Input tag '${type}' does not match any of the expected tags: 'text'`);
      return expectString(block["text"], `system.${k}.text`);
    })
    .join("\n");
}

function parseTool(raw: unknown, i: number): Tool {
  const at = `tools.${i}`;
  const t = expectObject(raw, at);
  if (t["type"] !== undefined && t["type"] !== null && t["type"] !== "custom")
    throw bad(`${at}.type`, `Tool type '${String(t["type"])}' is not supported by Tessera; only client tools ({name, description, input_schema}) are`, "unsupported_parameter");
  const name = expectString(t["name"], `${at}.name`);
  if (!/^[a-zA-Z0-9_-]{1,64}$/.test(name)) throw bad(`${at}.name`, "String should match pattern '^[a-zA-Z0-9_-]{1,64}$'");
  const schema = expectObject(t["input_schema"], `${at}.input_schema`);
  return create(ToolSchema, {
    type: "function",
    function: {
      name,
      description: t["description"] === undefined || t["description"] === null ? "" : expectString(t["description"], `${at}.description`),
      parameters: schema as JsonObject,
    },
  });
}

/** What a REST call asked for beyond the unified request. */
export interface ParsedAnthropicRequest {
  request: ChatRequest;
  stream: boolean;
}

/**
 * Validate an Anthropic Messages API body (POST /v1/messages) and turn it into the unified
 * request. Errors are TesseraErrors (400) whose param is the dotted path of the field, worded
 * like Anthropic's own ("max_tokens: Field required").
 */
export function parseAnthropicRequest(body: unknown): ParsedAnthropicRequest {
  if (!isObject(body)) throw bad("", `Invalid request body: expected a JSON object, but got ${typeName(body)}`);
  for (const key of Object.keys(body)) {
    if (!KNOWN_PARAMS.has(key) && !IGNORED_PARAMS.has(key)) throw bad(key, "Extra inputs are not permitted", "unknown_parameter");
  }
  const model = expectString(body["model"], "model");
  if (model === "") throw bad("model", "String should have at least 1 character");
  if (body["max_tokens"] === undefined || body["max_tokens"] === null) throw missing("max_tokens");
  const maxTokens = optInt(body, "max_tokens", 1, 1e9);
  const rawMessages = expectArray(body["messages"], "messages");
  if (rawMessages.length === 0) throw bad("messages", "List should have at least 1 item");

  const messages: Message[] = [];
  if (body["system"] !== undefined && body["system"] !== null) {
    const system = parseSystem(body["system"]);
    if (system !== "") messages.push(create(MessageSchema, { role: Role.SYSTEM, content: system }));
  }
  rawMessages.forEach((m, i) => messages.push(...parseMessage(m, i)));

  const req = create(ChatRequestSchema, { model, messages, maxTokens });
  req.temperature = optNumber(body, "temperature", 0, 1);
  req.topP = optNumber(body, "top_p", 0, 1);
  optInt(body, "top_k", 0, 1e9); // validated, then ignored
  if (body["stop_sequences"] !== undefined && body["stop_sequences"] !== null)
    req.stop = expectArray(body["stop_sequences"], "stop_sequences").map((s, k) => expectString(s, `stop_sequences.${k}`));
  if (body["tools"] !== undefined && body["tools"] !== null) req.tools = expectArray(body["tools"], "tools").map(parseTool);
  if (body["tool_choice"] !== undefined && body["tool_choice"] !== null) {
    const tc = expectObject(body["tool_choice"], "tool_choice");
    const type = expectString(tc["type"], "tool_choice.type");
    if (type === "auto") req.toolChoice = create(ToolChoiceSchema, { choice: { case: "mode", value: "auto" } });
    else if (type === "any") req.toolChoice = create(ToolChoiceSchema, { choice: { case: "mode", value: "required" } });
    else if (type === "none") req.toolChoice = create(ToolChoiceSchema, { choice: { case: "mode", value: "none" } });
    else if (type === "tool") req.toolChoice = create(ToolChoiceSchema, { choice: { case: "functionName", value: expectString(tc["name"], "tool_choice.name") } });
    else throw bad("tool_choice.type", `Input tag '${type}' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'`);
    const dp = tc["disable_parallel_tool_use"];
    if (dp !== undefined && dp !== null) {
      if (typeof dp !== "boolean") throw bad("tool_choice.disable_parallel_tool_use", `Input should be a valid boolean, but got ${typeName(dp)}`);
      if (dp) req.parallelToolCalls = false;
    }
  }
  if (body["metadata"] !== undefined && body["metadata"] !== null) {
    const md = expectObject(body["metadata"], "metadata");
    for (const key of Object.keys(md)) if (key !== "user_id") throw bad(`metadata.${key}`, "Extra inputs are not permitted", "unknown_parameter");
    if (md["user_id"] !== undefined && md["user_id"] !== null) req.user = expectString(md["user_id"], "metadata.user_id");
  }
  const stream = body["stream"];
  if (stream !== undefined && stream !== null && typeof stream !== "boolean") throw bad("stream", `Input should be a valid boolean, but got ${typeName(stream)}`);
  // Usage is always wanted: message_delta carries output_tokens.
  if (stream === true) req.includeUsage = true;
  return { request: req, stream: stream === true };
}
