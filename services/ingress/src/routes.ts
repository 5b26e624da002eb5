import { create } from "@bufbuild/protobuf";
import { ChatRequestSchema, EmbedRequestSchema } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import {
  ChatResponseSchema,
  ChatStreamResponseSchema,
  EmbedResponseSchema,
  GatewayService,
  InvokePromptResponseSchema,
  InvokePromptStreamResponseSchema,
  ListModelsResponseSchema,
  type PromptCall as PromptCallMsg,
} from "@tessera/gen/tessera/gateway/v1/gateway_pb";
import type { PromptCall } from "./domain/call.js";
import { bind, rateLimitHeaders, REMOTE_ADDRESS, TesseraError, type RateLimitInfo, type ServiceBinding } from "@tessera/runtime";
import type { CallPipeline } from "./domain/call.js";
import type { ApiRunner } from "./domain/chain.js";
import { credentialOf, routingHeaders } from "./rest/http.js";

function headersRecord(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  const a = h.get("authorization");
  if (a) out["authorization"] = a;
  const x = h.get("x-api-key");
  if (x) out["x-api-key"] = x;
  return out;
}

/** Request id, deployment and x-ratelimit-* state in the call's response metadata. */
function answerHeaders(h: Headers, r: { requestId: string; served: { deployment: string }; rateLimit?: RateLimitInfo | undefined }): void {
  h.set("x-request-id", r.requestId);
  h.set("x-tessera-deployment", r.served.deployment);
  for (const [k, v] of Object.entries(rateLimitHeaders(r.rateLimit))) h.set(k, v);
}

/** Most inputs in one embeddings call, as OpenAI allows. */
const MAX_EMBED_INPUTS = 2048;

/** Validate an embeddings request from a protobuf caller. */
function checkEmbed(req: { request?: { model: string; input: string[] } }) {
  if (!req.request) throw new TesseraError("invalid_request", "request is required", { param: "request" });
  if (!req.request.model) throw new TesseraError("invalid_request", "request.model is required", { param: "request.model" });
  if (req.request.input.length === 0) throw new TesseraError("invalid_request", "request.input must have at least one text", { param: "request.input" });
  if (req.request.input.length > MAX_EMBED_INPUTS)
    throw new TesseraError("invalid_request", `request.input has ${req.request.input.length} texts; at most ${MAX_EMBED_INPUTS} are allowed per call`, { param: "request.input" });
  const empty = req.request.input.findIndex((t) => t === "");
  if (empty >= 0) throw new TesseraError("invalid_request", `request.input[${empty}] is empty; every input must be a non-empty string`, { param: `request.input[${empty}]` });
}

/** Validate what the REST parser checks for JSON callers, for protobuf callers. */
function checkRequest(req: { request?: { model: string; messages: unknown[] } }) {
  if (!req.request) throw new TesseraError("invalid_request", "request is required", { param: "request" });
  if (!req.request.model) throw new TesseraError("invalid_request", "request.model is required", { param: "request.model" });
  if (req.request.messages.length === 0)
    throw new TesseraError("invalid_request", "request.messages must have at least one message", { param: "request.messages" });
}

/** A prompt call from a protobuf caller, checked like the REST one: a prompt by name, or a published API by path. */
function promptCall(c: PromptCallMsg | undefined): PromptCall {
  if (c?.api) {
    const extra = c.name ? "name" : c.label ? "label" : c.version ? "version" : "";
    if (extra) throw new TesseraError("invalid_request", `call.${extra} must be empty when call.api is set: the API names its prompts and versions`, { param: `call.${extra}` });
    return { name: "", label: "", version: 0, variables: c.variables ?? {}, maxTokens: c.maxTokens, api: c.api };
  }
  if (!c?.name) throw new TesseraError("invalid_request", "call.name is required: the prompt to invoke (or call.api: a published prompt API's path)", { param: "call.name" });
  return { name: c.name, label: c.label, version: c.version, variables: c.variables ?? {}, maxTokens: c.maxTokens };
}

/** Bind the public GatewayService (gRPC, Connect, gRPC-Web). */
export function gatewayService(deps: { pipeline: CallPipeline; apis: ApiRunner }): ServiceBinding<typeof GatewayService> {
  const { pipeline } = deps;
  /** Who runs a prompt call: the API runner for a published API, else the pipeline itself. */
  const runner = (call: PromptCall) => (call.api ? deps.apis : pipeline);
  return bind(GatewayService, {
      async chat(req, ctx) {
        checkRequest(req);
        const r = await pipeline.chat({
          credential: credentialOf(headersRecord(ctx.requestHeader)),
          request: req.request ?? create(ChatRequestSchema),
          surface: Surface.GRPC,
          signal: ctx.signal,
          headers: routingHeaders(ctx.requestHeader),
          sourceIp: ctx.values.get(REMOTE_ADDRESS),
        });
        answerHeaders(ctx.responseHeader, r);
        return create(ChatResponseSchema, { response: r.response, requestId: r.requestId, deployment: r.served.deployment });
      },
      async *chatStream(req, ctx) {
        checkRequest(req);
        const s = await pipeline.chatStream({
          credential: credentialOf(headersRecord(ctx.requestHeader)),
          request: req.request ?? create(ChatRequestSchema),
          surface: Surface.GRPC,
          signal: ctx.signal,
          headers: routingHeaders(ctx.requestHeader),
          sourceIp: ctx.values.get(REMOTE_ADDRESS),
        });
        answerHeaders(ctx.responseHeader, s);
        for await (const chunk of s.chunks)
          yield create(ChatStreamResponseSchema, { chunk, requestId: s.requestId, deployment: s.served.deployment });
      },
      async embed(req, ctx) {
        checkEmbed(req);
        const r = await pipeline.embed({
          credential: credentialOf(headersRecord(ctx.requestHeader)),
          request: req.request ?? create(EmbedRequestSchema),
          surface: Surface.GRPC,
          signal: ctx.signal,
          headers: routingHeaders(ctx.requestHeader),
          sourceIp: ctx.values.get(REMOTE_ADDRESS),
        });
        answerHeaders(ctx.responseHeader, r);
        return create(EmbedResponseSchema, { response: r.response, requestId: r.requestId, deployment: r.served.deployment });
      },
      async invokePrompt(req, ctx) {
        const prompt = promptCall(req.call);
        const r = await runner(prompt).chat({
          credential: credentialOf(headersRecord(ctx.requestHeader)),
          request: create(ChatRequestSchema),
          prompt,
          surface: Surface.GRPC,
          signal: ctx.signal,
          headers: routingHeaders(ctx.requestHeader),
          sourceIp: ctx.values.get(REMOTE_ADDRESS),
        });
        answerHeaders(ctx.responseHeader, r);
        return create(InvokePromptResponseSchema, { response: r.response, requestId: r.requestId, deployment: r.served.deployment, promptVersion: r.promptVersion ?? 0, chainId: r.chainId ?? "" });
      },
      async *invokePromptStream(req, ctx) {
        const prompt = promptCall(req.call);
        const s = await runner(prompt).chatStream({
          credential: credentialOf(headersRecord(ctx.requestHeader)),
          request: create(ChatRequestSchema),
          prompt,
          surface: Surface.GRPC,
          signal: ctx.signal,
          headers: routingHeaders(ctx.requestHeader),
          sourceIp: ctx.values.get(REMOTE_ADDRESS),
        });
        answerHeaders(ctx.responseHeader, s);
        for await (const chunk of s.chunks)
          yield create(InvokePromptStreamResponseSchema, { chunk, requestId: s.requestId, deployment: s.served.deployment, promptVersion: s.promptVersion ?? 0, chainId: s.chainId ?? "" });
      },
      async listModels(_req, ctx) {
        const models = await pipeline.listModels(credentialOf(headersRecord(ctx.requestHeader)), ctx.signal, ctx.values.get(REMOTE_ADDRESS));
        return create(ListModelsResponseSchema, { models: models.map((m) => ({ id: m.id, ownedBy: m.ownedBy })) });
      },
    });
}
