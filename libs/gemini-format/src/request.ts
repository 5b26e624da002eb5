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

/** Google words validation errors as `Invalid value at '<path>' …`; the param is the path. */
function bad(param: string, what: string, code = "invalid_value"): TesseraError {
  return new TesseraError("invalid_request", param ? `Invalid value at '${param}': ${what}` : what, { param, code });
}

function expectString(v: unknown, param: string): string {
  if (typeof v !== "string") throw bad(param, `expected a string, got ${typeName(v)}`);
  return v;
}

function expectObject(v: unknown, param: string): Record<string, unknown> {
  if (!isObject(v)) throw bad(param, `expected an object, got ${typeName(v)}`);
  return v;
}

function expectArray(v: unknown, param: string): unknown[] {
  if (!Array.isArray(v)) throw bad(param, `expected a list, got ${typeName(v)}`);
  return v;
}

function optNumber(o: Record<string, unknown>, key: string, at: string, int = false): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || (int && !Number.isInteger(v)))
    throw bad(`${at}.${key}`, `expected ${int ? "an integer" : "a number"}, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Gemini's OpenAPI-subset Schema (types often upper-case: "OBJECT", "STRING") → JSON Schema:
 * types lower-cased, `nullable: true` → `type: [T, "null"]`, nested schemas converted.
 */
export function geminiSchemaToJsonSchema(s: unknown): Record<string, unknown> {
  if (!isObject(s)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === "type" && typeof v === "string") out["type"] = v.toLowerCase();
    else if (k === "nullable" || k === "propertyOrdering") continue;
    else if (k === "properties" && isObject(v)) out["properties"] = Object.fromEntries(Object.entries(v).map(([n, sub]) => [n, geminiSchemaToJsonSchema(sub)]));
    else if (k === "items") out["items"] = geminiSchemaToJsonSchema(v);
    else if (k === "anyOf" && Array.isArray(v)) out["anyOf"] = v.map(geminiSchemaToJsonSchema);
    else if (/^(min|max)(Items|Properties|Length)$/.test(k) && typeof v === "string" && /^\d+$/.test(v)) out[k] = Number(v);
    else out[k] = v;
  }
  if (s["nullable"] === true) {
    if (typeof out["type"] === "string") out["type"] = [out["type"], "null"];
    else if (Array.isArray(out["anyOf"])) (out["anyOf"] as unknown[]).push({ type: "null" });
  }
  return out;
}

/** What a REST call asked for beyond the unified request. */
export interface ParsedGeminiRequest {
  request: ChatRequest;
  stream: boolean;
}

const KNOWN = new Set(["contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config", "generationConfig", "generation_config", "safetySettings", "safety_settings", "cachedContent", "cached_content", "labels"]);

/** Read a field given either as camelCase (REST JSON) or snake_case (also accepted by Google). */
function field(o: Record<string, unknown>, camel: string): unknown {
  if (o[camel] !== undefined) return o[camel];
  return o[camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];
}

function textOf(parts: unknown, at: string): string {
  return expectArray(parts, at)
    .map((p, k) => {
      const part = expectObject(p, `${at}[${k}]`);
      const t = field(part, "text");
      if (t === undefined) throw bad(`${at}[${k}]`, "only text parts are supported here", "unsupported_parameter");
      return expectString(t, `${at}[${k}].text`);
    })
    .join("");
}

/**
 * Validate a Gemini GenerateContentRequest body (the model is from the URL path, the stream
 * flag from the method name) and turn it into the unified request.
 *
 * - roles user/model → user/assistant (absent role = user); systemInstruction → a system
 *   message;
 * - functionCall parts → assistant tool_calls with ids `call_<n>` (n counts the calls of the
 *   request from 0); functionResponse parts → tool messages whose tool_call_id is the id of
 *   the earliest not yet answered call of that name (or its own `id` when it matches one);
 * - inlineData → data: URI image parts; fileData → image_url parts;
 * - tools[].functionDeclarations → function tools (parameters or parametersJsonSchema);
 * - toolConfig.functionCallingConfig AUTO/ANY/NONE → auto/required/none; ANY with exactly one
 *   allowedFunctionNames → that function;
 * - generationConfig temperature, topP, maxOutputTokens, stopSequences, candidateCount → n,
 *   seed, presence/frequencyPenalty, responseMimeType application/json → json_object,
 *   responseSchema / responseJsonSchema → json_schema. topK, safetySettings, thinking … are
 *   accepted and ignored.
 */
export function parseGeminiRequest(body: unknown, model: string, stream: boolean): ParsedGeminiRequest {
  if (!isObject(body)) throw bad("", `Invalid JSON payload received. Expected an object, got ${typeName(body)}.`);
  for (const key of Object.keys(body))
    if (!KNOWN.has(key)) throw bad("", `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`, "unknown_parameter");
  if (model === "") throw bad("model", "the model name in the URL is empty");
  const rawContents = field(body, "contents");
  if (rawContents === undefined) throw bad("contents", "contents is not specified", "missing_required_parameter");
  const contents = expectArray(rawContents, "contents");
  if (contents.length === 0) throw bad("contents", "contents must not be empty");

  const messages: Message[] = [];
  const sys = field(body, "systemInstruction");
  if (sys !== undefined && sys !== null) {
    const text = typeof sys === "string" ? sys : textOf(expectObject(sys, "system_instruction")["parts"] ?? [], "system_instruction.parts");
    if (text !== "") messages.push(create(MessageSchema, { role: Role.SYSTEM, content: text }));
  }

  let callCount = 0;
  /** Calls not yet answered, in order: id and name. */
  const open: { id: string; name: string; geminiId?: string }[] = [];

  contents.forEach((raw, i) => {
    const at = `contents[${i}]`;
    const c = expectObject(raw, at);
    const role = c["role"] === undefined || c["role"] === null || c["role"] === "" ? "user" : expectString(c["role"], `${at}.role`);
    if (role !== "user" && role !== "model") throw bad(`${at}.role`, `Please use a valid role: user, model. Got '${role}'`);
    const parts = expectArray(c["parts"] ?? [], `${at}.parts`);

    if (role === "model") {
      const msg = create(MessageSchema, { role: Role.ASSISTANT });
      let text = "";
      parts.forEach((p, k) => {
        const pat = `${at}.parts[${k}]`;
        const part = expectObject(p, pat);
        if (part["thought"] === true) return;
        const t = field(part, "text");
        const fc = field(part, "functionCall");
        if (t !== undefined) text += expectString(t, `${pat}.text`);
        else if (fc !== undefined) {
          const f = expectObject(fc, `${pat}.function_call`);
          const name = expectString(f["name"], `${pat}.function_call.name`);
          const args = f["args"] === undefined || f["args"] === null ? {} : expectObject(f["args"], `${pat}.function_call.args`);
          const id = `call_${callCount++}`;
          const entry: { id: string; name: string; geminiId?: string } = { id, name };
          if (typeof f["id"] === "string") entry.geminiId = f["id"];
          open.push(entry);
          msg.toolCalls.push(create(ToolCallSchema, { id, type: "function", function: { name, arguments: JSON.stringify(args) } }));
        } else if (part["thoughtSignature"] !== undefined || part["thought_signature"] !== undefined) {
          // An opaque signature on its own: nothing to carry.
        } else throw bad(pat, "model turns may hold text and functionCall parts only", "unsupported_parameter");
      });
      msg.content = text;
      messages.push(msg);
      return;
    }

    // A user turn: functionResponse parts become tool messages (first: they answer the
    // model turn before); text and media become one user message after them.
    const out: ContentPart[] = [];
    parts.forEach((p, k) => {
      const pat = `${at}.parts[${k}]`;
      const part = expectObject(p, pat);
      const t = field(part, "text");
      const inline = field(part, "inlineData");
      const file = field(part, "fileData");
      const fr = field(part, "functionResponse");
      if (t !== undefined) out.push(create(ContentPartSchema, { part: { case: "text", value: expectString(t, `${pat}.text`) } }));
      else if (inline !== undefined) {
        const d = expectObject(inline, `${pat}.inline_data`);
        const mime = expectString(field(d, "mimeType"), `${pat}.inline_data.mime_type`);
        const data = expectString(d["data"], `${pat}.inline_data.data`);
        out.push(create(ContentPartSchema, { part: { case: "imageUrl", value: { url: `data:${mime};base64,${data}`, detail: "" } } }));
      } else if (file !== undefined) {
        const d = expectObject(file, `${pat}.file_data`);
        const uri = expectString(field(d, "fileUri"), `${pat}.file_data.file_uri`);
        out.push(create(ContentPartSchema, { part: { case: "imageUrl", value: { url: uri, detail: "" } } }));
      } else if (fr !== undefined) {
        const f = expectObject(fr, `${pat}.function_response`);
        const name = expectString(f["name"], `${pat}.function_response.name`);
        const response = f["response"] === undefined || f["response"] === null ? {} : expectObject(f["response"], `${pat}.function_response.response`);
        let idx = typeof f["id"] === "string" ? open.findIndex((o) => o.geminiId === f["id"]) : -1;
        if (idx < 0) idx = open.findIndex((o) => o.name === name);
        if (idx < 0) throw bad(`${pat}.function_response.name`, `no earlier functionCall named '${name}' to answer`);
        const [call] = open.splice(idx, 1);
        messages.push(create(MessageSchema, { role: Role.TOOL, toolCallId: call!.id, content: JSON.stringify(response) }));
      } else throw bad(pat, "user turns may hold text, inlineData, fileData and functionResponse parts", "unsupported_parameter");
    });
    if (out.length === 1 && out[0]!.part.case === "text") messages.push(create(MessageSchema, { role: Role.USER, content: out[0]!.part.value }));
    else if (out.length > 0) messages.push(create(MessageSchema, { role: Role.USER, parts: out }));
  });

  const req = create(ChatRequestSchema, { model, messages });

  const tools = field(body, "tools");
  if (tools !== undefined && tools !== null) {
    expectArray(tools, "tools").forEach((raw, i) => {
      const t = expectObject(raw, `tools[${i}]`);
      const decls = field(t, "functionDeclarations");
      if (decls === undefined) {
        if (Object.keys(t).length === 0) return;
        throw bad(`tools[${i}]`, `tool ${Object.keys(t).join(", ")} is not supported by Tessera; only functionDeclarations are`, "unsupported_parameter");
      }
      expectArray(decls, `tools[${i}].function_declarations`).forEach((d, j) => {
        const dat = `tools[${i}].function_declarations[${j}]`;
        const decl = expectObject(d, dat);
        const name = expectString(decl["name"], `${dat}.name`);
        const desc = decl["description"] === undefined ? "" : expectString(decl["description"], `${dat}.description`);
        const pjs = field(decl, "parametersJsonSchema");
        const params = pjs !== undefined ? expectObject(pjs, `${dat}.parameters_json_schema`) : decl["parameters"] !== undefined ? geminiSchemaToJsonSchema(expectObject(decl["parameters"], `${dat}.parameters`)) : undefined;
        req.tools.push(
          create(ToolSchema, {
            type: "function",
            function: { name, description: desc, ...(params ? { parameters: params as JsonObject } : {}) },
          }),
        );
      });
    });
  }

  const toolConfig = field(body, "toolConfig");
  if (toolConfig !== undefined && toolConfig !== null) {
    const fcc = field(expectObject(toolConfig, "tool_config"), "functionCallingConfig");
    if (fcc !== undefined && fcc !== null) {
      const f = expectObject(fcc, "tool_config.function_calling_config");
      const mode = f["mode"] === undefined ? "AUTO" : expectString(f["mode"], "tool_config.function_calling_config.mode");
      const allowed = field(f, "allowedFunctionNames");
      const names = allowed === undefined ? [] : expectArray(allowed, "tool_config.function_calling_config.allowed_function_names").map((n, k) => expectString(n, `tool_config.function_calling_config.allowed_function_names[${k}]`));
      if (mode === "AUTO" || mode === "MODE_UNSPECIFIED" || mode === "VALIDATED") req.toolChoice = create(ToolChoiceSchema, { choice: { case: "mode", value: "auto" } });
      else if (mode === "NONE") req.toolChoice = create(ToolChoiceSchema, { choice: { case: "mode", value: "none" } });
      else if (mode === "ANY")
        req.toolChoice = names.length === 1 ? create(ToolChoiceSchema, { choice: { case: "functionName", value: names[0]! } }) : create(ToolChoiceSchema, { choice: { case: "mode", value: "required" } });
      else throw bad("tool_config.function_calling_config.mode", `expected AUTO, ANY, NONE or VALIDATED, got '${mode}'`);
    }
  }

  const gcRaw = field(body, "generationConfig");
  if (gcRaw !== undefined && gcRaw !== null) {
    const at = "generation_config";
    const gc = expectObject(gcRaw, at);
    req.temperature = optNumber(gc, "temperature", at);
    req.topP = optNumber(gc, "topP", at) ?? optNumber(gc, "top_p", at);
    req.maxTokens = optNumber(gc, "maxOutputTokens", at, true) ?? optNumber(gc, "max_output_tokens", at, true);
    req.n = optNumber(gc, "candidateCount", at, true) ?? optNumber(gc, "candidate_count", at, true);
    const seed = optNumber(gc, "seed", at, true);
    if (seed !== undefined) req.seed = BigInt(seed);
    req.presencePenalty = optNumber(gc, "presencePenalty", at) ?? optNumber(gc, "presence_penalty", at);
    req.frequencyPenalty = optNumber(gc, "frequencyPenalty", at) ?? optNumber(gc, "frequency_penalty", at);
    const stop = field(gc, "stopSequences");
    if (stop !== undefined && stop !== null) req.stop = expectArray(stop, `${at}.stop_sequences`).map((s, k) => expectString(s, `${at}.stop_sequences[${k}]`));
    const mime = field(gc, "responseMimeType");
    const schema = field(gc, "responseSchema");
    const jsonSchema = field(gc, "responseJsonSchema");
    if (jsonSchema !== undefined && jsonSchema !== null)
      req.responseFormat = create(ResponseFormatSchema, { type: "json_schema", schemaName: "response", schema: expectObject(jsonSchema, `${at}.response_json_schema`) as JsonObject });
    else if (schema !== undefined && schema !== null)
      req.responseFormat = create(ResponseFormatSchema, { type: "json_schema", schemaName: "response", schema: geminiSchemaToJsonSchema(expectObject(schema, `${at}.response_schema`)) as JsonObject });
    else if (mime === "application/json") req.responseFormat = create(ResponseFormatSchema, { type: "json_object" });
    else if (mime !== undefined && mime !== null && mime !== "text/plain") throw bad(`${at}.response_mime_type`, `'${String(mime)}' is not supported; use text/plain or application/json`, "unsupported_parameter");
  }
  // Usage rides on the last chunk (usageMetadata), so always ask for it.
  if (stream) req.includeUsage = true;
  return { request: req, stream };
}
