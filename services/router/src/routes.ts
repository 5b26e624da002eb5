import { create } from "@bufbuild/protobuf";
import { bind, type ServiceBinding } from "@tessera/runtime";
import { ChatRequestSchema } from "@tessera/gen/tessera/chat/v1/chat_pb";
import {
  ListModelsResponseSchema,
  RouteResponseSchema,
  RouteStreamResponseSchema,
  RouterService,
} from "@tessera/gen/tessera/router/v1/router_pb";
import type { RouterCore } from "./domain/router.js";

/** Bind RouterService. The call's abort signal (client gone, deadline) cancels the upstream. */
export function routerService(deps: { core: RouterCore }): ServiceBinding<typeof RouterService> {
  return bind(RouterService, {
      async route(req, ctx) {
        const { response, served } = await deps.core.route(req.request ?? create(ChatRequestSchema), ctx.signal);
        return create(RouteResponseSchema, { response, served });
      },
      async *routeStream(req, ctx) {
        for await (const { chunk, served } of deps.core.routeStream(req.request ?? create(ChatRequestSchema), ctx.signal))
          yield create(RouteStreamResponseSchema, { chunk, served });
      },
      listModels() {
        return create(ListModelsResponseSchema, { models: deps.core.listModels() });
      },
    });
}
