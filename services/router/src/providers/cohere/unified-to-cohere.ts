import { Role, type ChatRequest, type ContentPart, type EmbedRequest, type Message, type ToolCall } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { invalidRequest as invalid, plainText } from "../request-parts.js";
import type {
  CohereAssistantMessage,
  CohereChatRequest,
  CohereEmbedInputType,
  CohereEmbedRequest,
  CohereImageContent,
  CohereMessage,
  CohereResponseFormat,
  CohereTextContent,
  CohereTool,
  CohereToolCall,
} from "./wire.js";

/** Used when the caller gives no `input_type`: embed v3 and newer models require one. */
export const DEFAULT_EMBED_INPUT_TYPE: CohereEmbedInputType = "search_document";

const EMBED_INPUT_TYPES: ReadonlySet<string> = new Set(["search_document", "search_query", "classification", "clustering"]);
const IMAGE_DETAILS: ReadonlySet<string> = new Set(["auto", "low", "high"]);

/** A unified image URL → Cohere image block. Cohere takes web URLs and base64 data: URIs. */
function imageBlock(url: string, detail: string, param: string): CohereImageContent {
  if (url.startsWith("data:")) {
    if (!/^data:[^;,]+(?:;[^;,]*)*;base64,/s.test(url)) throw invalid("image data: URIs must be base64-encoded (data:<media type>;base64,<data>)", `${param}.url`);
  } else if (!/^https?:\/\//i.test(url)) throw invalid("image_url must be an http(s) URL or a data: URI", `${param}.url`);
  if (detail === "") return { type: "image_url", image_url: { url } };
  if (!IMAGE_DETAILS.has(detail)) throw invalid(`image detail ${JSON.stringify(detail)} is not one of auto, low, high`, `${param}.detail`);
  return { type: "image_url", image_url: { url, detail: detail as "auto" | "low" | "high" } };
}

/** A user message's parts → Cohere content blocks (empty text parts are left out). */
function userBlocks(parts: ContentPart[], param: string): (CohereTextContent | CohereImageContent)[] {
  const out: (CohereTextContent | CohereImageContent)[] = [];
  parts.forEach((p, j) => {
    if (p.part.case === "text") {
      if (p.part.value !== "") out.push({ type: "text", text: p.part.value });
    } else if (p.part.case === "imageUrl") out.push(imageBlock(p.part.value.url, p.part.value.detail, `${param}.content[${j}].image_url`));
  });
  return out;
}

function toolCall(tc: ToolCall, param: string): CohereToolCall {
  if (!tc.id) throw invalid(`${param} has no id; Cohere needs it to match the tool result`, `${param}.id`);
  const name = tc.function?.name ?? "";
  if (!name) throw invalid(`${param} has no function name`, `${param}.function.name`);
  // Cohere sends "{}" for a call without arguments; an empty text is not JSON.
  const args = tc.function?.arguments ?? "";
  return { id: tc.id, type: "function", function: { name, arguments: args.trim() === "" ? "{}" : args } };
}

/**
 * An assistant turn. With tool calls, its text goes to `tool_plan` — the text a model writes
 * before calling tools, which is what Cohere's own answers carry there — and `content` is left
 * out; without, the text is the content. An empty turn says nothing and is dropped.
 */
function assistantMessage(m: Message, param: string): CohereAssistantMessage | undefined {
  const text = plainText(m, param, "Cohere");
  const calls = m.toolCalls.map((tc, k) => toolCall(tc, `${param}.tool_calls[${k}]`));
  if (calls.length > 0) return text === "" ? { role: "assistant", tool_calls: calls } : { role: "assistant", tool_plan: text, tool_calls: calls };
  return text === "" ? undefined : { role: "assistant", content: text };
}

/** Unified messages → Cohere messages, with system and developer text hoisted first. */
function messages(req: ChatRequest): CohereMessage[] {
  const system: string[] = [];
  const out: CohereMessage[] = [];
  req.messages.forEach((m, i) => {
    const param = `messages[${i}]`;
    switch (m.role) {
      case Role.SYSTEM:
      case Role.DEVELOPER: {
        const text = plainText(m, param, "Cohere");
        if (text !== "") system.push(text);
        return;
      }
      case Role.ASSISTANT: {
        const a = assistantMessage(m, param);
        if (a) out.push(a);
        return;
      }
      case Role.TOOL: {
        if (!m.toolCallId) throw invalid(`${param} is a tool message without tool_call_id`, `${param}.tool_call_id`);
        out.push({ role: "tool", tool_call_id: m.toolCallId, content: plainText(m, param, "Cohere") });
        return;
      }
      default:
        // ROLE_USER and ROLE_UNSPECIFIED (treated as user, as the other adapters do).
        out.push({ role: "user", content: m.parts.length === 0 ? m.content : userBlocks(m.parts, param) });
    }
  });
  return system.length > 0 ? [{ role: "system", content: system.join("\n\n") }, ...out] : out;
}

function tools(req: ChatRequest): CohereTool[] {
  return req.tools.map((t, j): CohereTool => {
    const name = t.function?.name ?? "";
    if (!name) throw invalid(`tools[${j}] has no function name`, `tools[${j}].function.name`);
    // Cohere requires `parameters`; a function without arguments takes an empty object.
    const parameters = (t.function?.parameters as Record<string, unknown> | undefined) ?? { type: "object", properties: {} };
    const fn: CohereTool["function"] = { name, parameters };
    if (t.function?.description) fn.description = t.function.description;
    return { type: "function", function: fn };
  });
}

/**
 * tool_choice → Cohere's `tool_choice` and the tools to offer. auto → omitted (the model
 * chooses); required → REQUIRED; none → NONE. Cohere cannot force one named function, so a
 * named function is approximated by offering only that function with REQUIRED: the model must
 * call a tool and that is the only one it has. Nothing is sent when no tools are offered.
 */
function toolChoice(req: ChatRequest, offered: CohereTool[]): { choice?: "REQUIRED" | "NONE"; tools: CohereTool[] } {
  const tc = req.toolChoice?.choice;
  if (tc?.case === "functionName") {
    const only = offered.filter((t) => t.function.name === tc.value);
    if (only.length === 0) throw invalid(`tool_choice names function ${JSON.stringify(tc.value)}, which is not among the tools`, "tool_choice");
    return { choice: "REQUIRED", tools: only };
  }
  if (tc?.case === "mode" && !["auto", "required", "none"].includes(tc.value))
    throw invalid(`tool_choice ${JSON.stringify(tc.value)} is not one of none, auto, required`, "tool_choice");
  if (offered.length === 0 || tc?.case !== "mode" || tc.value === "auto") return { tools: offered };
  return { choice: tc.value === "required" ? "REQUIRED" : "NONE", tools: offered };
}

/**
 * response_format → Cohere's. json_object and json_schema both become `json_object`, the latter
 * with the schema as `json_schema`; the schema's name and `strict` have no Cohere field (Cohere
 * always holds the output to a given schema). Cohere does not accept it together with tools and
 * answers 400, which reaches the caller as an invalid request.
 */
function responseFormat(req: ChatRequest): CohereResponseFormat | undefined {
  const rf = req.responseFormat;
  switch (rf?.type ?? "") {
    case "":
    case "text":
      return undefined;
    case "json_object":
      return { type: "json_object" };
    case "json_schema": {
      if (!rf?.schema) throw invalid("response_format json_schema needs a schema", "response_format.json_schema.schema");
      return { type: "json_object", json_schema: rf.schema as Record<string, unknown> };
    }
    default:
      throw invalid(`response_format type ${JSON.stringify(rf?.type)} is not one of text, json_object, json_schema`, "response_format.type");
  }
}

/**
 * Unified request → body of Cohere's `POST /v2/chat`.
 *
 * - System and developer messages, wherever they are, are joined (blank line between) into one
 *   leading system message.
 * - Assistant tool calls keep their ids; their text becomes `tool_plan` (see assistantMessage).
 *   Tool results become tool messages with the text as given.
 * - Images (web URLs or base64 data: URIs, with detail) are allowed in user messages only.
 * - top_p → p; stop → stop_sequences; seed, penalties, temperature and max_tokens pass as they
 *   are. n > 1 is rejected (one answer per call). `user`, `metadata` and `reasoning_effort` have
 *   no Cohere field and are not sent.
 * - A function's `strict` is per tool in the unified schema but per request in Cohere's
 *   (`strict_tools`): it is set when any tool asks for strict arguments.
 * - parallel_tool_calls has no Cohere equivalent and is not sent; when it is false the adapter
 *   keeps only the first call of the answer (see keepFirstToolCall).
 */
export function requestToCohere(req: ChatRequest, model: string, stream: boolean): CohereChatRequest {
  if (req.n !== undefined && req.n > 1) throw invalid("Cohere returns one choice per call; n must be 1", "n", "unsupported_parameter");
  const out: CohereChatRequest = { model, messages: messages(req), stream };
  const { choice, tools: offered } = toolChoice(req, tools(req));
  if (offered.length > 0) out.tools = offered;
  if (choice) out.tool_choice = choice;
  if (req.tools.some((t) => t.function?.strict === true)) out.strict_tools = true;
  const rf = responseFormat(req);
  if (rf) out.response_format = rf;
  if (req.maxTokens !== undefined) out.max_tokens = req.maxTokens;
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.topP !== undefined) out.p = req.topP;
  if (req.stop.length > 0) out.stop_sequences = [...req.stop];
  if (req.seed !== undefined) out.seed = Number(req.seed);
  if (req.frequencyPenalty !== undefined) out.frequency_penalty = req.frequencyPenalty;
  if (req.presencePenalty !== undefined) out.presence_penalty = req.presencePenalty;
  return out;
}

/**
 * Unified embeddings request → body of Cohere's `POST /v2/embed`: float vectors only; an empty
 * input_type becomes {@link DEFAULT_EMBED_INPUT_TYPE}; dimensions (when non-zero) become
 * `output_dimension`; long inputs are cut at the end (`truncate: "END"`, Cohere's default,
 * sent explicitly). `user` has no Cohere field.
 */
export function embedToCohere(req: EmbedRequest, model: string): CohereEmbedRequest {
  if (req.input.length === 0) throw invalid("input must contain at least one text", "input");
  const inputType = req.inputType === "" ? DEFAULT_EMBED_INPUT_TYPE : req.inputType;
  if (!EMBED_INPUT_TYPES.has(inputType))
    throw invalid(`input_type ${JSON.stringify(req.inputType)} is not one of search_document, search_query, classification, clustering`, "input_type");
  const out: CohereEmbedRequest = { model, texts: [...req.input], input_type: inputType as CohereEmbedInputType, embedding_types: ["float"], truncate: "END" };
  if (req.dimensions > 0) out.output_dimension = req.dimensions;
  return out;
}
