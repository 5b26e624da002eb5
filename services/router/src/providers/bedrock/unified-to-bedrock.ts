import { createHash } from "node:crypto";
import { Role, type ChatRequest, type ContentPart, type Message } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { invalidRequest as invalid, plainText } from "../request-parts.js";
import type {
  ConverseContentBlock,
  ConverseImageBlock,
  ConverseImageFormat,
  ConverseInferenceConfig,
  ConverseMessage,
  ConverseRequest,
  ConverseSystemBlock,
  ConverseTool,
  ConverseToolConfig,
} from "./wire.js";

/**
 * The tool through which JSON output is emulated (Converse has no response_format): a request
 * with response_format json_schema / json_object offers this one tool with the caller's schema
 * as its input schema and forces a tool call; the response translators turn the call's input
 * back into the message's text. Callers may not define a tool of this name.
 */
export const STRUCTURED_OUTPUT_TOOL = "tessera_structured_output";

/** ImageBlock formats by data: URL media type. */
const IMAGE_FORMATS: Readonly<Record<string, ConverseImageFormat>> = {
  "image/png": "png",
  "image/jpeg": "jpeg",
  "image/jpg": "jpeg",
  "image/gif": "gif",
  "image/webp": "webp",
};

/** ToolUseBlock / ToolResultBlock toolUseId: 1–64 characters of [a-zA-Z0-9_-]. */
const TOOL_USE_ID = /^[a-zA-Z0-9_-]{1,64}$/;

/**
 * A tool-call id as Bedrock accepts it. Ids Bedrock issued (tooluse_…) and OpenAI's (call_…)
 * pass unchanged; an id from elsewhere with other characters (or too long) is replaced by a
 * stable hash of it, the same for the call and its result, so the pair still matches.
 */
export function converseToolUseId(id: string): string {
  if (TOOL_USE_ID.test(id)) return id;
  return `tooluse_${createHash("sha256").update(id).digest("hex").slice(0, 40)}`;
}

/**
 * A data: URL → ImageBlock. Converse takes image bytes only (or S3 locations): it does not
 * fetch URLs, so an http(s) URL is the caller's to inline.
 */
function imageBlock(url: string, param: string): ConverseImageBlock {
  if (/^https?:\/\//i.test(url))
    throw invalid(
      "Bedrock Converse does not fetch image URLs; send the image inline as a data: URL (data:image/png;base64,…)",
      param,
      "unsupported_image_url",
    );
  const m = /^data:([^;,]+)((?:;[^;,]*)*);base64,(.*)$/s.exec(url);
  if (!m) throw invalid("image data: URLs must be base64-encoded (data:<media type>;base64,<data>)", param);
  const format = IMAGE_FORMATS[m[1]!.toLowerCase()];
  if (!format) throw invalid(`image media type ${m[1]} is not supported by Bedrock Converse (use image/png, image/jpeg, image/gif or image/webp)`, param);
  const bytes = m[3]!.replace(/\s+/g, "");
  if (bytes === "" || !/^[A-Za-z0-9+/]*={0,2}$/.test(bytes)) throw invalid("image data: URL does not hold base64 data", param);
  return { image: { format, source: { bytes } } };
}

function userBlocks(m: Message, param: string): ConverseContentBlock[] {
  if (m.parts.length === 0) return m.content === "" ? [] : [{ text: m.content }];
  const out: ConverseContentBlock[] = [];
  m.parts.forEach((p: ContentPart, j) => {
    // Converse rejects blank text blocks.
    if (p.part.case === "text") {
      if (p.part.value !== "") out.push({ text: p.part.value });
    } else if (p.part.case === "imageUrl") out.push(imageBlock(p.part.value.url, `${param}.content[${j}].image_url.url`));
  });
  return out;
}

function toolInput(args: string, param: string): Record<string, unknown> {
  if (args.trim() === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(args);
  } catch {
    throw invalid("tool call arguments are not valid JSON; Bedrock needs a JSON object as tool input", param);
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw invalid("tool call arguments are not a JSON object; Bedrock needs a JSON object as tool input", param);
  return v as Record<string, unknown>;
}

/** Appends blocks to the conversation, merging a turn into the previous one of the same role. */
class Turns {
  readonly messages: ConverseMessage[] = [];
  hasToolBlocks = false;

  add(role: ConverseMessage["role"], blocks: ConverseContentBlock[]): void {
    if (blocks.length === 0) return;
    if (blocks.some((b) => "toolUse" in b || "toolResult" in b)) this.hasToolBlocks = true;
    const last = this.messages[this.messages.length - 1];
    if (last?.role === role) last.content.push(...blocks);
    else this.messages.push({ role, content: blocks });
  }
}

function conversation(req: ChatRequest): { system: ConverseSystemBlock[]; turns: Turns } {
  const system: ConverseSystemBlock[] = [];
  const turns = new Turns();
  req.messages.forEach((m, i) => {
    const param = `messages[${i}]`;
    switch (m.role) {
      case Role.SYSTEM:
      case Role.DEVELOPER: {
        const text = plainText(m, param, "Bedrock");
        if (text !== "") system.push({ text });
        return;
      }
      case Role.TOOL: {
        if (!m.toolCallId) throw invalid(`${param} is a tool message without tool_call_id`, `${param}.tool_call_id`);
        const text = plainText(m, param, "Bedrock");
        turns.add("user", [{ toolResult: { toolUseId: converseToolUseId(m.toolCallId), content: text === "" ? [] : [{ text }] } }]);
        return;
      }
      case Role.ASSISTANT: {
        const blocks: ConverseContentBlock[] = [];
        const text = plainText(m, param, "Bedrock");
        if (text !== "") blocks.push({ text });
        m.toolCalls.forEach((tc, k) => {
          const name = tc.function?.name ?? "";
          if (!name) throw invalid(`${param}.tool_calls[${k}] has no function name`, `${param}.tool_calls[${k}].function.name`);
          blocks.push({
            toolUse: { toolUseId: converseToolUseId(tc.id), name, input: toolInput(tc.function?.arguments ?? "", `${param}.tool_calls[${k}].function.arguments`) },
          });
        });
        turns.add("assistant", blocks);
        return;
      }
      default:
        // ROLE_USER and ROLE_UNSPECIFIED (treated as user, as the other adapters do).
        turns.add("user", userBlocks(m, param));
    }
  });
  return { system, turns };
}

function callerTools(req: ChatRequest): ConverseTool[] {
  return req.tools.map((t, j): ConverseTool => {
    const name = t.function?.name ?? "";
    if (!name) throw invalid(`tools[${j}] has no function name`, `tools[${j}].function.name`);
    if (name === STRUCTURED_OUTPUT_TOOL) throw invalid(`tools[${j}]: the name ${STRUCTURED_OUTPUT_TOOL} is reserved by the gateway`, `tools[${j}].function.name`);
    const json = (t.function?.parameters as Record<string, unknown> | undefined) ?? { type: "object", properties: {} };
    const spec: ConverseTool["toolSpec"] = { name, inputSchema: { json } };
    if (t.function?.description) spec.description = t.function.description;
    return { toolSpec: spec };
  });
}

function structuredOutputTool(req: ChatRequest): ConverseTool | undefined {
  const rf = req.responseFormat;
  if (rf?.type !== "json_schema" && rf?.type !== "json_object") return undefined;
  const schema = rf.type === "json_schema" && rf.schema ? (rf.schema as Record<string, unknown>) : { type: "object" };
  const what = rf.type === "json_schema" && rf.schemaName ? `the JSON object described by the "${rf.schemaName}" schema` : "a JSON object";
  return {
    toolSpec: {
      name: STRUCTURED_OUTPUT_TOOL,
      description: `Give your final answer by calling this tool exactly once with ${what} as its input.`,
      inputSchema: { json: schema },
    },
  };
}

/**
 * tools, tool_choice and response_format → toolConfig.
 *
 * - auto (or unset) → no toolChoice: auto is Converse's default, and not every model takes a
 *   toolChoice at all. required → `any`; a function name → `tool` (Claude 3+ and Nova only).
 * - none → no toolConfig: Converse has no "none", and a model offered no tools calls none. But
 *   Bedrock requires toolConfig whenever the messages hold toolUse / toolResult blocks, so
 *   "none" (or no tools at all) with tool calls in the history cannot be expressed honestly and
 *   is rejected rather than silently offering the tools.
 * - response_format json_schema / json_object → the {@link STRUCTURED_OUTPUT_TOOL} tool and
 *   toolChoice `any` (works on every model with tool use, unlike `tool`). With the caller's
 *   tools (tool_choice auto) the model may call one of them or answer through the JSON tool;
 *   with tool_choice none only the JSON tool is offered; required or a forced function cannot
 *   be combined with a forced JSON answer.
 */
function toolConfig(req: ChatRequest, hasToolBlocks: boolean): ConverseToolConfig | undefined {
  const tc = req.toolChoice?.choice;
  const mode = tc?.case === "mode" ? tc.value : tc?.case === "functionName" ? "function" : "auto";
  if (mode !== "auto" && mode !== "none" && mode !== "required" && mode !== "function")
    throw invalid(`tool_choice ${JSON.stringify(mode)} is not one of none, auto, required`, "tool_choice");
  const declared = callerTools(req);
  const tools = mode === "none" ? [] : declared;
  const json = structuredOutputTool(req);
  if (json) {
    if (mode === "required" || mode === "function")
      throw invalid(
        "response_format json_schema / json_object is emulated on Bedrock by forcing a JSON answer tool, which cannot be combined with tool_choice required or a forced function",
        "response_format",
        "unsupported_parameter",
      );
    return { tools: [...tools, json], toolChoice: { any: {} } };
  }
  if (tools.length === 0) {
    if (hasToolBlocks)
      throw invalid(
        mode === "none"
          ? "tool_choice none cannot be expressed on Bedrock Converse when the messages contain tool calls or results (Bedrock then requires the tools to be offered, and has no way to forbid calling them); use tool_choice auto"
          : "the messages contain tool calls or results, and Bedrock Converse then requires the tools to be offered: send the tools with the request",
        mode === "none" ? "tool_choice" : "tools",
        "unsupported_parameter",
      );
    return undefined;
  }
  const out: ConverseToolConfig = { tools };
  if (mode === "required") out.toolChoice = { any: {} };
  else if (tc?.case === "functionName") out.toolChoice = { tool: { name: tc.value } };
  return out;
}

function inferenceConfig(req: ChatRequest): ConverseInferenceConfig | undefined {
  const out: ConverseInferenceConfig = {};
  if (req.maxTokens !== undefined) out.maxTokens = req.maxTokens;
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.topP !== undefined) out.topP = req.topP;
  if (req.stop.length > 0) out.stopSequences = [...req.stop];
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Unified request → Converse / ConverseStream body (the model id goes in the path, and the
 * two operations take the same body).
 *
 * - system and developer messages, wherever they are, are hoisted in order into `system`.
 * - Tool messages become toolResult blocks in a user turn; consecutive turns of one role are
 *   merged (Converse requires user and assistant to alternate), so parallel results share
 *   one user message and a user text following them joins it after the results.
 * - Assistant tool_calls become toolUse blocks; their arguments must be a JSON object.
 * - Images: data: URLs become ImageBlock bytes (png, jpeg, gif, webp); http(s) URLs are
 *   rejected, as Converse does not fetch them.
 * - max_tokens, temperature, top_p and stop go to inferenceConfig (max_tokens is optional on
 *   Converse and only sent when given).
 * - Not forwarded, having no Converse counterpart: n (> 1 is rejected), presence and
 *   frequency penalties, seed, user, metadata, parallel_tool_calls (Converse cannot forbid
 *   parallel calls) and reasoning_effort (reasoning is model-specific, through
 *   additionalModelRequestFields, with no common mapping).
 * - See {@link toolConfig} for tools, tool_choice and the response_format emulation.
 */
export function requestToConverse(req: ChatRequest): ConverseRequest {
  if (req.n !== undefined && req.n > 1) throw invalid("Bedrock returns one choice per call; n must be 1", "n", "unsupported_parameter");
  const { system, turns } = conversation(req);
  const out: ConverseRequest = { messages: turns.messages };
  if (system.length > 0) out.system = system;
  const inference = inferenceConfig(req);
  if (inference) out.inferenceConfig = inference;
  const tools = toolConfig(req, turns.hasToolBlocks);
  if (tools) out.toolConfig = tools;
  return out;
}
