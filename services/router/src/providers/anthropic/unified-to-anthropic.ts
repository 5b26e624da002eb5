import { Role, type ChatRequest, type ContentPart } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { invalidRequest as invalid, plainText } from "../request-parts.js";
import type {
  AnthropicImageBlock,
  AnthropicImageMediaType,
  AnthropicMessage,
  AnthropicRequest,
  AnthropicRequestBlock,
  AnthropicTextBlock,
  AnthropicTool,
  AnthropicToolChoice,
  AnthropicToolResultBlock,
} from "@tessera/anthropic-format";

/**
 * Used when the unified request has no max_tokens: Anthropic requires the field, and 4096 is
 * within every current model's output limit.
 */
export const DEFAULT_MAX_TOKENS = 4096;

const MEDIA_TYPES: ReadonlySet<string> = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);

/** A unified image URL → Anthropic image block: data: URIs become base64, http(s) a URL source. */
function imageBlock(url: string, param: string): AnthropicImageBlock {
  if (url.startsWith("data:")) {
    const m = /^data:([^;,]+)((?:;[^;,]*)*);base64,(.*)$/s.exec(url);
    if (!m) throw invalid("image data: URIs must be base64-encoded (data:<media type>;base64,<data>)", param);
    const mediaType = m[1]!.toLowerCase();
    if (!MEDIA_TYPES.has(mediaType))
      throw invalid(`image media type ${mediaType} is not supported by Anthropic (use image/jpeg, image/png, image/gif or image/webp)`, param);
    return { type: "image", source: { type: "base64", media_type: mediaType as AnthropicImageMediaType, data: m[3]! } };
  }
  if (/^https?:\/\//i.test(url)) return { type: "image", source: { type: "url", url } };
  throw invalid("image_url must be an http(s) URL or a data: URI", param);
}

function userBlocks(parts: ContentPart[], param: string): AnthropicRequestBlock[] {
  const out: AnthropicRequestBlock[] = [];
  parts.forEach((p, j) => {
    if (p.part.case === "text") {
      // Anthropic rejects empty text blocks.
      if (p.part.value !== "") out.push({ type: "text", text: p.part.value });
    } else if (p.part.case === "imageUrl") out.push(imageBlock(p.part.value.url, `${param}.content[${j}].image_url.url`));
  });
  return out;
}

function toolInput(args: string, i: number, k: number): Record<string, unknown> {
  const param = `messages[${i}].tool_calls[${k}].function.arguments`;
  if (args.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(args);
  } catch {
    throw invalid(`messages[${i}].tool_calls[${k}] has arguments that are not valid JSON; Anthropic needs a JSON object as tool input`, param);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw invalid(`messages[${i}].tool_calls[${k}] has arguments that are not a JSON object; Anthropic needs a JSON object as tool input`, param);
  return v as Record<string, unknown>;
}

function toolChoice(req: ChatRequest): AnthropicToolChoice | undefined {
  const tc = req.toolChoice?.choice;
  let out: AnthropicToolChoice | undefined;
  if (tc?.case === "mode") {
    if (tc.value === "auto") out = { type: "auto" };
    else if (tc.value === "required") out = { type: "any" };
    else if (tc.value === "none") out = { type: "none" };
    else throw invalid(`tool_choice ${JSON.stringify(tc.value)} is not one of none, auto, required`, "tool_choice");
  } else if (tc?.case === "functionName") out = { type: "tool", name: tc.value };
  if (req.parallelToolCalls === false && req.tools.length > 0) {
    out ??= { type: "auto" };
    // "none" takes no disable_parallel_tool_use: no tool can be called at all.
    if (out.type !== "none") out.disable_parallel_tool_use = true;
  }
  return out;
}

/**
 * Unified request → Anthropic Messages request body.
 *
 * - system and developer messages, wherever they are, are hoisted in order into `system`.
 * - Consecutive tool messages become one user message of tool_result blocks.
 * - Assistant tool_calls become tool_use blocks; their arguments must be a JSON object.
 * - n > 1 is rejected (one answer per call); presence/frequency penalties, seed and
 *   reasoning_effort have no Anthropic equivalent and are not forwarded.
 * - response_format json_object / json_schema is rejected: the classic Messages API has no
 *   JSON mode, and emulating it with a forced tool would change tool_choice and the shape of
 *   the answer behind the caller's back. "text" is the default and passes.
 */
export function requestToAnthropic(req: ChatRequest, model: string, stream: boolean): AnthropicRequest {
  if (req.n !== undefined && req.n > 1) throw invalid("Anthropic returns one choice per call; n must be 1", "n", "unsupported_parameter");
  const rf = req.responseFormat?.type;
  if (rf === "json_schema" || rf === "json_object")
    throw invalid(
      `response_format ${rf} is not supported for Anthropic models; describe the JSON in the prompt or offer a tool with the schema instead`,
      "response_format",
      "unsupported_parameter",
    );

  const system: AnthropicTextBlock[] = [];
  const messages: AnthropicMessage[] = [];
  let toolResults: AnthropicToolResultBlock[] | undefined;

  req.messages.forEach((m, i) => {
    const param = `messages[${i}]`;
    if (m.role !== Role.TOOL) toolResults = undefined;
    switch (m.role) {
      case Role.SYSTEM:
      case Role.DEVELOPER: {
        const text = plainText(m, param, "Anthropic");
        if (text !== "") system.push({ type: "text", text });
        return;
      }
      case Role.TOOL: {
        if (!m.toolCallId) throw invalid(`${param} is a tool message without tool_call_id`, `${param}.tool_call_id`);
        const block: AnthropicToolResultBlock = { type: "tool_result", tool_use_id: m.toolCallId };
        const text = plainText(m, param, "Anthropic");
        if (text !== "") block.content = text;
        if (toolResults) toolResults.push(block);
        else {
          toolResults = [block];
          messages.push({ role: "user", content: toolResults });
        }
        return;
      }
      case Role.ASSISTANT: {
        const blocks: AnthropicRequestBlock[] = [];
        const text = plainText(m, param, "Anthropic");
        if (text !== "") blocks.push({ type: "text", text });
        m.toolCalls.forEach((tc, k) => {
          blocks.push({ type: "tool_use", id: tc.id, name: tc.function?.name ?? "", input: toolInput(tc.function?.arguments ?? "", i, k) });
        });
        // An empty assistant turn is rejected by Anthropic and says nothing: leave it out.
        if (blocks.length === 0) return;
        messages.push({ role: "assistant", content: blocks.length === 1 && blocks[0]!.type === "text" ? text : blocks });
        return;
      }
      default: {
        // ROLE_USER and ROLE_UNSPECIFIED (treated as user, as the OpenAI adapter does).
        if (m.parts.length === 0) {
          messages.push({ role: "user", content: m.content });
          return;
        }
        messages.push({ role: "user", content: userBlocks(m.parts, param) });
      }
    }
  });

  const out: AnthropicRequest = { model, max_tokens: req.maxTokens ?? DEFAULT_MAX_TOKENS, messages };
  if (system.length === 1) out.system = system[0]!.text;
  else if (system.length > 1) out.system = system;
  if (req.tools.length > 0)
    out.tools = req.tools.map((t, j): AnthropicTool => {
      const name = t.function?.name ?? "";
      if (!name) throw invalid(`tools[${j}] has no function name`, `tools[${j}].function.name`);
      const tool: AnthropicTool = { name, input_schema: (t.function?.parameters as Record<string, unknown> | undefined) ?? { type: "object", properties: {} } };
      if (t.function?.description) tool.description = t.function.description;
      return tool;
    });
  const tc = toolChoice(req);
  if (tc && req.tools.length > 0) out.tool_choice = tc;
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.topP !== undefined) out.top_p = req.topP;
  if (req.stop.length > 0) out.stop_sequences = [...req.stop];
  if (req.user) out.metadata = { user_id: req.user };
  if (stream) out.stream = true;
  return out;
}
