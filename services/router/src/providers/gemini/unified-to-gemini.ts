import { Role, type ChatRequest, type ContentPart, type Message } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import type { GeminiContent, GeminiGenerationConfig, GeminiPart, GeminiRequest, GeminiRole, GeminiSchema } from "@tessera/gemini-format";

function invalid(param: string, message: string): TesseraError {
  return new TesseraError("invalid_request", message, { param, code: "invalid_value" });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The text of a message, whether given as `content` or as text parts. */
function messageText(m: Message): string {
  if (m.parts.length === 0) return m.content;
  return m.parts.map((p) => (p.part.case === "text" ? p.part.value : "")).join("");
}

const MIME_BY_EXT: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  gif: "image/gif",
  heic: "image/heic",
  heif: "image/heif",
};

/**
 * Gemini needs a mimeType for fileData; an http(s) URL carries none, so it is guessed from the
 * path's extension, falling back to image/jpeg (the commonest photo type).
 */
export function guessImageMimeType(url: string): string {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    /* keep the raw string */
  }
  const ext = /\.([a-z0-9]+)$/i.exec(path)?.[1]?.toLowerCase();
  return (ext && MIME_BY_EXT[ext]) || "image/jpeg";
}

function imagePart(url: string, param: string): GeminiPart {
  if (url.startsWith("data:")) {
    const m = /^data:([^;,]+)((?:;[^;,]*)*);base64,(.*)$/s.exec(url);
    if (!m) throw invalid(param, `Invalid image data URI at '${param}': expected data:<mime type>;base64,<data>`);
    return { inlineData: { mimeType: m[1]!, data: m[3]! } };
  }
  if (/^https?:\/\//i.test(url)) return { fileData: { mimeType: guessImageMimeType(url), fileUri: url } };
  throw invalid(param, `Invalid image URL at '${param}': Gemini accepts data: URIs and http(s) URLs`);
}

function contentParts(m: Message, i: number): GeminiPart[] {
  if (m.parts.length === 0) return m.content === "" ? [] : [{ text: m.content }];
  const out: GeminiPart[] = [];
  m.parts.forEach((p: ContentPart, j) => {
    if (p.part.case === "text") {
      if (p.part.value !== "") out.push({ text: p.part.value });
    } else if (p.part.case === "imageUrl") out.push(imagePart(p.part.value.url, `messages[${i}].content[${j}].image_url.url`));
  });
  return out;
}

/** Keys of Gemini's OpenAPI-subset Schema that are copied through unchanged. */
const SCHEMA_SCALAR_KEYS = [
  "format",
  "title",
  "description",
  "nullable",
  "minItems",
  "maxItems",
  "minProperties",
  "maxProperties",
  "minLength",
  "maxLength",
  "pattern",
  "minimum",
  "maximum",
  "default",
  "example",
  "propertyOrdering",
] as const;

const MAX_REF_DEPTH = 8;

/**
 * JSON Schema (as OpenAI function parameters are written) → Gemini's OpenAPI 3.0 subset
 * (ai.google.dev/api/caching#Schema). Gemini rejects unknown fields, so this whitelists:
 * - kept: type, format, title, description, nullable, enum, items, min/maxItems, properties,
 *   required, propertyOrdering, min/maxProperties, min/maxLength, pattern, minimum, maximum,
 *   anyOf, default, example;
 * - mapped: `type: [T, "null"]` → `type: T, nullable: true` (several non-null types → anyOf);
 *   `const: v` → `enum: [v]`; `oneOf` → `anyOf`; a one-element `allOf` is merged in; enum
 *   values become strings (Gemini's enum is string-only); local `$ref`s to `#/$defs/…` or
 *   `#/definitions/…` are inlined (up to 8 levels; a deeper or cyclic reference becomes an
 *   unconstrained `{}`); tuple `items: [...]` keeps its first schema;
 * - dropped: additionalProperties, $schema, $id, $defs, definitions, strict, patternProperties,
 *   dependencies, if/then/else, not, multi-element allOf, and anything else not listed.
 */
export function toGeminiSchema(schema: unknown, root: unknown = schema, depth = 0): GeminiSchema {
  if (!isPlainObject(schema)) return {};
  let s = schema;
  if (typeof s["$ref"] === "string") {
    const ref = s["$ref"];
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    const defs = isPlainObject(root) ? root[m?.[1] ?? ""] : undefined;
    const target = m && isPlainObject(defs) ? defs[decodeURIComponent(m[2]!)] : undefined;
    if (!isPlainObject(target) || depth >= MAX_REF_DEPTH) return {};
    const { $ref: _ref, ...rest } = s;
    s = { ...target, ...rest };
    depth++;
  }
  if (Array.isArray(s["allOf"]) && s["allOf"].length === 1 && isPlainObject(s["allOf"][0])) {
    const { allOf, ...rest } = s;
    s = { ...(allOf as Record<string, unknown>[])[0], ...rest };
  }
  const out: GeminiSchema = {};
  for (const k of SCHEMA_SCALAR_KEYS) if (s[k] !== undefined) (out as Record<string, unknown>)[k] = s[k];

  const t = s["type"];
  if (typeof t === "string") out.type = t;
  else if (Array.isArray(t)) {
    const types = t.filter((x): x is string => typeof x === "string" && x !== "null");
    if (types.length < t.length) out.nullable = true;
    if (types.length === 1) out.type = types[0]!;
    else if (types.length > 1) out.anyOf = types.map((type) => ({ type }));
  }
  if (Array.isArray(s["enum"])) out.enum = s["enum"].filter((v) => v !== null).map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
  else if (s["const"] !== undefined && s["const"] !== null) out.enum = [typeof s["const"] === "string" ? s["const"] : JSON.stringify(s["const"])];

  if (isPlainObject(s["properties"])) {
    out.properties = {};
    for (const [name, sub] of Object.entries(s["properties"])) out.properties[name] = toGeminiSchema(sub, root, depth);
  }
  if (Array.isArray(s["required"])) out.required = s["required"].filter((x): x is string => typeof x === "string");
  const items = Array.isArray(s["items"]) ? s["items"][0] : s["items"];
  if (isPlainObject(items)) out.items = toGeminiSchema(items, root, depth);
  const alts = Array.isArray(s["anyOf"]) ? s["anyOf"] : Array.isArray(s["oneOf"]) ? s["oneOf"] : undefined;
  if (alts) {
    const nonNull = alts.filter((a) => !(isPlainObject(a) && a["type"] === "null"));
    if (nonNull.length < alts.length) out.nullable = true;
    if (nonNull.length === 1) Object.assign(out, { ...toGeminiSchema(nonNull[0], root, depth), ...out });
    else if (nonNull.length > 1) out.anyOf = nonNull.map((a) => toGeminiSchema(a, root, depth));
  }
  return out;
}

/** `$schema` is metadata Gemini's responseJsonSchema does not list; everything else passes. */
function toResponseJsonSchema(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _s, ...rest } = schema;
  return rest;
}

/**
 * Unified request → Gemini generateContent body (the model goes in the URL).
 *
 * - system and developer messages, wherever they appear, become `systemInstruction` parts;
 * - assistant → role "model": text, then one functionCall part per tool call, with `args`
 *   parsed from the arguments JSON (must be an object; else invalid_request naming the field);
 * - tool → a "user" turn with a functionResponse part, its `name` taken from the earlier tool
 *   call with the same id; `response` is the result when it is a JSON object, else
 *   `{ content: <text> }`;
 * - consecutive turns of the same role are merged (tool results and a following user message
 *   share one "user" turn), as Gemini expects user/model alternation;
 * - images: data: URIs → inlineData, http(s) URLs → fileData with a mimeType guessed from the
 *   extension;
 * - tools → one Tool with functionDeclarations (parameters through {@link toGeminiSchema}; an
 *   object schema without properties is omitted, as Gemini rejects empty OBJECT properties);
 * - tool_choice auto/required/none → AUTO/ANY/NONE; a named function → ANY with
 *   allowedFunctionNames;
 * - response_format json_object → responseMimeType application/json; json_schema → the same
 *   plus responseJsonSchema (JSON Schema as given, so additionalProperties/$ref/$defs of strict
 *   OpenAI schemas survive);
 * - temperature, top_p, max_tokens, stop, n, seed, presence/frequency penalties →
 *   generationConfig. Not mapped (no Gemini equivalent): parallel_tool_calls, user, metadata,
 *   reasoning_effort, image detail, message names.
 */
export function requestToGemini(req: ChatRequest): GeminiRequest {
  const system: GeminiPart[] = [];
  const contents: GeminiContent[] = [];
  const callNames = new Map<string, string>();

  const push = (role: GeminiRole, parts: GeminiPart[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };

  req.messages.forEach((m, i) => {
    switch (m.role) {
      case Role.SYSTEM:
      case Role.DEVELOPER: {
        const text = messageText(m);
        if (text !== "") system.push({ text });
        return;
      }
      case Role.ASSISTANT: {
        const parts = contentParts(m, i);
        m.toolCalls.forEach((tc, j) => {
          const name = tc.function?.name ?? "";
          const raw = tc.function?.arguments ?? "";
          let args: unknown;
          try {
            args = raw.trim() === "" ? {} : JSON.parse(raw);
          } catch {
            throw invalid(`messages[${i}].tool_calls[${j}].function.arguments`, `messages[${i}].tool_calls[${j}].function.arguments is not valid JSON`);
          }
          if (!isPlainObject(args))
            throw invalid(`messages[${i}].tool_calls[${j}].function.arguments`, `messages[${i}].tool_calls[${j}].function.arguments must be a JSON object`);
          if (tc.id) callNames.set(tc.id, name);
          parts.push({ functionCall: { name, args } });
        });
        push("model", parts);
        return;
      }
      case Role.TOOL: {
        const name = callNames.get(m.toolCallId);
        if (name === undefined)
          throw invalid(`messages[${i}].tool_call_id`, `messages[${i}].tool_call_id '${m.toolCallId}' does not match a tool call of an earlier assistant message`);
        const text = messageText(m);
        let response: Record<string, unknown> = { content: text };
        try {
          const parsed: unknown = JSON.parse(text);
          if (isPlainObject(parsed)) response = parsed;
        } catch {
          /* plain text result */
        }
        push("user", [{ functionResponse: { name, response } }]);
        return;
      }
      default:
        push("user", contentParts(m, i));
    }
  });

  const out: GeminiRequest = { contents };
  if (system.length > 0) out.systemInstruction = { parts: system };

  if (req.tools.length > 0) {
    out.tools = [
      {
        functionDeclarations: req.tools.map((t) => {
          const fn = t.function;
          const decl: { name: string; description?: string; parameters?: GeminiSchema } = { name: fn?.name ?? "" };
          if (fn?.description) decl.description = fn.description;
          if (fn?.parameters) {
            const p = toGeminiSchema(fn.parameters);
            const emptyObject = (p.type ?? "").toLowerCase() === "object" && Object.keys(p.properties ?? {}).length === 0;
            if (!emptyObject && Object.keys(p).length > 0) decl.parameters = p;
          }
          return decl;
        }),
      },
    ];
  }
  const tc = req.toolChoice?.choice;
  if (tc?.case === "mode") {
    const mode = ({ auto: "AUTO", required: "ANY", none: "NONE" } as const)[tc.value as "auto" | "required" | "none"];
    if (!mode) throw invalid("tool_choice", `tool_choice '${tc.value}' is not one of 'none', 'auto', 'required'`);
    out.toolConfig = { functionCallingConfig: { mode } };
  } else if (tc?.case === "functionName") {
    out.toolConfig = { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [tc.value] } };
  }

  const gc: GeminiGenerationConfig = {};
  if (req.temperature !== undefined) gc.temperature = req.temperature;
  if (req.topP !== undefined) gc.topP = req.topP;
  if (req.maxTokens !== undefined) gc.maxOutputTokens = req.maxTokens;
  if (req.stop.length > 0) gc.stopSequences = [...req.stop];
  if (req.n !== undefined) gc.candidateCount = req.n;
  if (req.seed !== undefined) gc.seed = Number(req.seed);
  if (req.presencePenalty !== undefined) gc.presencePenalty = req.presencePenalty;
  if (req.frequencyPenalty !== undefined) gc.frequencyPenalty = req.frequencyPenalty;
  const rf = req.responseFormat;
  if (rf?.type === "json_object") gc.responseMimeType = "application/json";
  else if (rf?.type === "json_schema") {
    gc.responseMimeType = "application/json";
    if (rf.schema) gc.responseJsonSchema = toResponseJsonSchema(rf.schema);
  }
  if (Object.keys(gc).length > 0) out.generationConfig = gc;
  return out;
}
