import { createClient } from "@connectrpc/connect";
import type { Transport } from "@connectrpc/connect";
import { AuthzService } from "@tessera/gen/tessera/authz/v1/authz_pb";
import { RedactionService } from "@tessera/gen/tessera/redaction/v1/redaction_pb";
import { RouterService } from "@tessera/gen/tessera/router/v1/router_pb";
import type { EventPublisher } from "@tessera/events";
import { createKafkaPublisher } from "@tessera/events";
import { errorToOpenAI } from "@tessera/openai-format";
import { createMeshTransport, meshUrl, TesseraError, type BuiltService, type Config, type Logger } from "@tessera/runtime";
import { createCallPipeline } from "./domain/call.js";
import { createOpenAISurface } from "./rest/openai.js";
import { sendJson } from "./rest/http.js";
import { routes } from "./routes.js";

/** Ingress's dependencies: transports to its peers and the event publisher. */
export interface IngressDeps {
  authz: Transport;
  redaction: Transport;
  router: Transport;
  events: EventPublisher;
  log: Logger;
  maxBodyBytes: number;
}

/** Ingress wired to its peers, in whatever topology the transports say. */
export function createIngress(deps: IngressDeps): BuiltService {
  const pipeline = createCallPipeline({
    authz: createClient(AuthzService, deps.authz),
    redaction: createClient(RedactionService, deps.redaction),
    router: createClient(RouterService, deps.router),
    events: deps.events,
    log: deps.log,
  });
  const openai = createOpenAISurface({ pipeline, maxBodyBytes: deps.maxBodyBytes, log: deps.log });
  return {
    routes: routes({ pipeline }),
    rest: (req, res) => {
      if (openai(req, res)) return;
      const e = new TesseraError("not_found", `Unknown request URL: ${req.method} ${req.url}. See the README for the API.`, { code: "unknown_url" });
      sendJson(res, 404, errorToOpenAI(e));
    },
    stop: () => deps.events.close(),
  };
}

/** Build ingress as its own process: peers over HTTP/2, events to Kafka. */
export async function build(cfg: Config, log: Logger): Promise<BuiltService> {
  if (cfg.events.kind !== "kafka")
    throw new Error("ingress as its own process needs events.kind: kafka (the in-process queue only works all-in-one)");
  return createIngress({
    authz: createMeshTransport(meshUrl(cfg, "authz")),
    redaction: createMeshTransport(meshUrl(cfg, "redaction")),
    router: createMeshTransport(meshUrl(cfg, "router")),
    events: createKafkaPublisher({ brokers: cfg.events.brokers, topic: cfg.events.topic, clientId: "tessera-ingress", log }),
    log,
    maxBodyBytes: cfg.server.max_body_bytes,
  });
}
