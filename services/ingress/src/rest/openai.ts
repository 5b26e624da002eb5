import { Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { chunkToOpenAI, embedResponseToOpenAI, errorToOpenAI, parseOpenAIChatRequest, parseOpenAIEmbeddingRequest, responseToOpenAI } from "@tessera/openai-format";
import { create, type JsonObject } from "@bufbuild/protobuf";
import { ChatRequestSchema } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { API_PATH, TesseraError, withServerSpan, type Logger } from "@tessera/runtime";
import type { CallPipeline } from "../domain/call.js";
import type { ApiRunner } from "../domain/chain.js";
import { createChatEndpoint, sendFormatError, type ChatFormat } from "./chat-endpoint.js";
import { clientGone, credentialOf, readJson, routingHeaders, sendJson, servedHeaders, sourceOf, type Req, type Res } from "./http.js";

/** Options of the OpenAI-compatible REST surface. */
export interface OpenAISurfaceOptions {
  pipeline: CallPipeline;
  /** Runs published prompt APIs (POST /apis/…). */
  apis: ApiRunner;
  maxBodyBytes: number;
  log: Logger;
}

/** OpenAI's chat-completions format: JSON, or `data:` chunk events ended by `data: [DONE]`. */
const OPENAI: ChatFormat = {
  name: "OpenAI",
  surface: Surface.OPENAI,
  parse: parseOpenAIChatRequest,
  response: responseToOpenAI,
  stream(request) {
    const includeUsage = request.includeUsage;
    return {
      chunk(c) {
        // The provider spoke this very format: its chunk goes out as it came, unless usage
        // must be taken out of it.
        if (c.rawOpenai && (includeUsage || !c.usage)) return `data: ${c.rawOpenai}\n\n`;
        if (c.usage && !includeUsage) {
          // Usage was asked upstream for metering only; the caller did not ask for it.
          c.usage = undefined;
          if (c.choices.length === 0) return "";
        }
        return `data: ${JSON.stringify(chunkToOpenAI(c))}\n\n`;
      },
      end: () => "data: [DONE]\n\n",
      // OpenAI reports an error after the stream started as a data event with an error body.
      error: (e) => `data: ${JSON.stringify(errorToOpenAI(e))}\n\n`,
    };
  },
  error: (e) => errorToOpenAI(e),
};

/** Prompt API paths: POST /v1/prompts/{name}/invoke. */
const PROMPT_PATH = /^\/v1\/prompts\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})\/invoke$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** What a published API call's body may hold; a prompt call's may also name a label or version. */
const API_FIELDS = ["variables", "stream", "stream_options", "max_tokens"];
const PROMPT_FIELDS = ["label", "version", ...API_FIELDS];

/**
 * A prompt call body: `{ label?, version?, variables?, stream?, stream_options?, max_tokens? }`
 * (`fields` says which of these it may hold); the answer is in OpenAI's chat-completions format
 * (JSON or SSE).
 */
function parseCallBody(body: unknown, fields: readonly string[]) {
  if (!isObject(body)) throw new TesseraError("invalid_request", `The body must be a JSON object: { "variables": { … }, "stream"?: false }.`, { code: "invalid_body" });
  for (const k of Object.keys(body)) if (!fields.includes(k)) throw new TesseraError("invalid_request", `Unknown field '${k}'; a ${fields === API_FIELDS ? "prompt API" : "prompt"} call takes ${fields.join(", ")}.`, { param: k });
  const { label = "", version = 0, variables = {}, stream = false, max_tokens } = body;
  if (typeof label !== "string") throw new TesseraError("invalid_request", "label must be a string (e.g. \"production\").", { param: "label" });
  if (typeof version !== "number" || !Number.isInteger(version) || version < 0) throw new TesseraError("invalid_request", "version must be a positive integer (0 or absent: use the label).", { param: "version" });
  if (!isObject(variables)) throw new TesseraError("invalid_request", "variables must be an object of name → value.", { param: "variables" });
  if (typeof stream !== "boolean") throw new TesseraError("invalid_request", "stream must be a boolean.", { param: "stream" });
  if (max_tokens !== undefined && (typeof max_tokens !== "number" || !Number.isInteger(max_tokens) || max_tokens < 1))
    throw new TesseraError("invalid_request", "max_tokens must be a positive integer.", { param: "max_tokens" });
  const includeUsage = isObject(body["stream_options"]) && body["stream_options"]["include_usage"] === true;
  return {
    request: create(ChatRequestSchema, { includeUsage }),
    stream,
    prompt: { name: "", label, version, variables: variables as JsonObject, maxTokens: max_tokens as number | undefined },
  };
}

/** The prompt API surface: OpenAI's answer format, a prompt call as the request. */
const PROMPT_API: ChatFormat = {
  ...OPENAI,
  name: "prompt API",
  parse(body, req) {
    const call = parseCallBody(body, PROMPT_FIELDS);
    call.prompt.name = PROMPT_PATH.exec((req.url ?? "").split("?")[0]!)![1]!;
    return call;
  },
};

/** Published prompt APIs: their own paths under /apis/, a call body without label or version. */
const PUBLISHED_API: ChatFormat = {
  ...OPENAI,
  name: "published prompt API",
  parse(body, req) {
    const path = (req.url ?? "").split("?")[0]!;
    if (!API_PATH.test(path)) throw new TesseraError("not_found", `There is no prompt API at ${path.slice(0, 200)}.`, { code: "api_not_found" });
    const call = parseCallBody(body, API_FIELDS);
    return { ...call, prompt: { ...call.prompt, api: path } };
  },
};

/**
 * The OpenAI-compatible surface: POST /v1/chat/completions (JSON or SSE stream) and
 * GET /v1/models, errors as OpenAI error JSON with the matching status. Returns false when
 * the path is not this surface's.
 */
export function createOpenAISurface(opts: OpenAISurfaceOptions) {
  const { pipeline, log } = opts;
  const chatCompletions = createChatEndpoint(OPENAI, opts);
  const invokePrompt = createChatEndpoint(PROMPT_API, opts);
  const invokeApi = createChatEndpoint(PUBLISHED_API, { ...opts, pipeline: opts.apis });

  async function models(req: Req, res: Res) {
    try {
      const list = await pipeline.listModels(credentialOf(req.headers), clientGone(res), sourceOf(req));
      sendJson(res, 200, {
        object: "list",
        data: list.map((m) => ({ id: m.id, object: "model", created: 0, owned_by: m.ownedBy })),
      });
    } catch (err) {
      sendFormatError(res, OPENAI, log, err);
    }
  }

  /** POST /v1/embeddings: the same key, limits, redaction and metering as chat. */
  async function embeddings(req: Req, res: Res) {
    let parsed;
    try {
      parsed = parseOpenAIEmbeddingRequest(await readJson(req, opts.maxBodyBytes));
    } catch (err) {
      return sendFormatError(res, OPENAI, log, err);
    }
    try {
      const r = await pipeline.embed({
        credential: credentialOf(req.headers),
        request: parsed.request,
        surface: Surface.OPENAI,
        signal: clientGone(res),
        headers: routingHeaders(Object.entries(req.headers)),
        sourceIp: sourceOf(req),
      });
      sendJson(res, 200, embedResponseToOpenAI(r.response, parsed.encodingFormat, parsed.request.model), servedHeaders(r));
    } catch (err) {
      sendFormatError(res, OPENAI, log, err);
    }
  }

  return (req: Req, res: Res): boolean => {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/v1/chat/completions" || path === "/chat/completions") {
      if (req.method !== "POST") {
        sendFormatError(res, OPENAI, log, new TesseraError("invalid_request", `Method ${req.method} is not allowed on ${path}; use POST.`, { status: 405, code: "method_not_allowed" }));
        return true;
      }
      void withServerSpan("POST /v1/chat/completions", req.headers, () => chatCompletions(req, res));
      return true;
    }
    if (path === "/v1/embeddings" || path === "/embeddings") {
      if (req.method !== "POST") {
        sendFormatError(res, OPENAI, log, new TesseraError("invalid_request", `Method ${req.method} is not allowed on ${path}; use POST.`, { status: 405, code: "method_not_allowed" }));
        return true;
      }
      void withServerSpan("POST /v1/embeddings", req.headers, () => embeddings(req, res));
      return true;
    }
    if (path !== undefined && PROMPT_PATH.test(path)) {
      if (req.method !== "POST") {
        sendFormatError(res, OPENAI, log, new TesseraError("invalid_request", `Method ${req.method} is not allowed on ${path}; use POST.`, { status: 405, code: "method_not_allowed" }));
        return true;
      }
      void withServerSpan("POST /v1/prompts/{name}/invoke", req.headers, () => invokePrompt(req, res));
      return true;
    }
    if (path?.startsWith("/apis/")) {
      if (req.method !== "POST") {
        sendFormatError(res, OPENAI, log, new TesseraError("invalid_request", `Method ${req.method} is not allowed on ${path}; use POST.`, { status: 405, code: "method_not_allowed" }));
        return true;
      }
      void withServerSpan("POST /apis/{path}", req.headers, () => invokeApi(req, res));
      return true;
    }
    if (path === "/v1/models" || path === "/models") {
      void withServerSpan("GET /v1/models", req.headers, () => models(req, res));
      return true;
    }
    return false;
  };
}
