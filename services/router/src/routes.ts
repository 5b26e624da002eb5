import { create } from "@bufbuild/protobuf";
import { bind, type ServiceBinding } from "@tessera/runtime";
import { ChatRequestSchema, EmbedRequestSchema, type ChatRequest } from "@tessera/gen/tessera/chat/v1/chat_pb";
import {
  EmbedResponseSchema,
  ListModelsResponseSchema,
  RouteResponseSchema,
  RouteStreamResponseSchema,
  RouterService,
} from "@tessera/gen/tessera/router/v1/router_pb";
import { promptChars, type CallAttributes, type RouterCore } from "./domain/router.js";

function chatAttributes(r: { tenantId: string; headers: Record<string, string> }, req: ChatRequest): CallAttributes {
  return { tenantId: r.tenantId, headers: r.headers, metadata: req.metadata, promptChars: promptChars(req) };
}

/** Bind RouterService. The call's abort signal (client gone, deadline) cancels the upstream. */
export function routerService(deps: { core: RouterCore }): ServiceBinding<typeof RouterService> {
  return bind(RouterService, {
    async route(r, ctx) {
      const req = r.request ?? create(ChatRequestSchema);
      const { response, served } = await deps.core.route(req, chatAttributes(r, req), ctx.signal);
      return create(RouteResponseSchema, { response, served });
    },
    async *routeStream(r, ctx) {
      const req = r.request ?? create(ChatRequestSchema);
      for await (const { chunk, served } of deps.core.routeStream(req, chatAttributes(r, req), ctx.signal))
        yield create(RouteStreamResponseSchema, { chunk, served });
    },
    async embed(r, ctx) {
      const req = r.request ?? create(EmbedRequestSchema);
      const chars = req.input.reduce((n, s) => n + s.length, 0);
      const { response, served } = await deps.core.embed(req, { tenantId: r.tenantId, headers: r.headers, metadata: {}, promptChars: chars }, ctx.signal);
      return create(EmbedResponseSchema, { response, served });
    },
    listModels() {
      return create(ListModelsResponseSchema, { models: deps.core.listModels() });
    },
  });
}
