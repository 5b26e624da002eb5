import type { Client } from "@connectrpc/connect";
import { AuthzService } from "@tessera/gen/tessera/authz/v1/authz_pb";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { RedactionService } from "@tessera/gen/tessera/redaction/v1/redaction_pb";
import { RouterService } from "@tessera/gen/tessera/router/v1/router_pb";
import { PromptRegistryService } from "@tessera/gen/tessera/promptregistry/v1/prompt_registry_pb";
import { PromptAdminService } from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import { MeteringService } from "@tessera/gen/tessera/metering/v1/metering_pb";
import type { EventPublisher } from "@tessera/events";
import { openPolicies, openVault, type PolicySet, type Vault } from "@tessera/guardrails";
import { observePublisher, publisherFromConfig } from "@tessera/events";
import { errorToOpenAI } from "@tessera/openai-format";
import { createMeshClient, meshUrl, TesseraError, type BuiltService, type Config, type Logger, type MetricsRegistry } from "@tessera/runtime";
import { createCallPipeline } from "./domain/call.js";
import { createApiRunner } from "./domain/chain.js";
import { createAnthropicSurface } from "./rest/anthropic.js";
import { createGeminiSurface } from "./rest/gemini.js";
import { createOpenAISurface } from "./rest/openai.js";
import { ADMIN_ROUTES, adminApi, createAdminRest } from "./rest/admin.js";
import { PROMPT_ADMIN_ROUTES } from "./rest/prompt-admin.js";
import { createUsageRest } from "./rest/usage.js";
import { sendJson } from "./rest/http.js";
import { gatewayService } from "./routes.js";
import { adminForward } from "./admin-forward.js";

/** Ingress's dependencies: typed clients of its peers (direct or over HTTP/2) and the event publisher. */
export interface IngressDeps {
  authz: Client<typeof AuthzService>;
  /** authz's admin API, served on the public port too. */
  admin: Client<typeof AdminService>;
  redaction: Client<typeof RedactionService>;
  router: Client<typeof RouterService>;
  prompts: Client<typeof PromptRegistryService>;
  /** prompt-registry's admin API, served on the public port too. */
  promptAdmin: Client<typeof PromptAdminService>;
  /** metering's usage API, served on the public port too. */
  metering: Client<typeof MeteringService>;
  events: EventPublisher;
  log: Logger;
  maxBodyBytes: number;
  /** Redaction policies (the answer side runs in ingress) and the vault of tokenised values. */
  policies: PolicySet;
  vault: Vault;
}

/** Ingress wired to its peers, in whatever topology the transports say. */
export function createIngress(deps: IngressDeps): BuiltService {
  const pipeline = createCallPipeline({
    authz: deps.authz,
    redaction: deps.redaction,
    router: deps.router,
    prompts: deps.prompts,
    events: deps.events,
    log: deps.log,
    policies: deps.policies,
    vault: deps.vault,
  });
  const apis = createApiRunner({ pipeline, authz: deps.authz, prompts: deps.prompts });
  const openai = createOpenAISurface({ pipeline, apis, maxBodyBytes: deps.maxBodyBytes, log: deps.log });
  const anthropic = createAnthropicSurface({ pipeline, maxBodyBytes: deps.maxBodyBytes, log: deps.log });
  const gemini = createGeminiSurface({ pipeline, maxBodyBytes: deps.maxBodyBytes, log: deps.log });
  const adminApis = [adminApi(AdminService, deps.admin, ADMIN_ROUTES), adminApi(PromptAdminService, deps.promptAdmin, PROMPT_ADMIN_ROUTES)];
  const admin = createAdminRest({ apis: adminApis, maxBodyBytes: deps.maxBodyBytes, log: deps.log });
  const usage = createUsageRest({ metering: deps.metering, log: deps.log });
  return {
    bindings: [gatewayService({ pipeline, apis }), adminForward(AdminService, deps.admin), adminForward(PromptAdminService, deps.promptAdmin), adminForward(MeteringService, deps.metering)],
    rest: (req, res) => {
      if (usage(req, res)) return;
      if (openai(req, res)) return;
      if (anthropic(req, res)) return;
      if (gemini(req, res)) return;
      if (admin(req, res)) return;
      const e = new TesseraError("not_found", `Unknown request URL: ${req.method} ${req.url}. See the README for the API.`, { code: "unknown_url" });
      sendJson(res, 404, errorToOpenAI(e));
    },
    stop: () => deps.events.close(),
  };
}

/** Build ingress as its own process: peers over HTTP/2, events to Kafka (spooled to disk while it is down). */
export async function build(cfg: Config, log: Logger, metrics?: MetricsRegistry): Promise<BuiltService> {
  if (cfg.events.kind !== "kafka")
    throw new Error("ingress as its own process needs events.kind: kafka (the in-process queue only works all-in-one)");
  const authz = createMeshClient(AuthzService, meshUrl(cfg, "authz"));
  const admin = createMeshClient(AdminService, meshUrl(cfg, "authz"));
  const redaction = createMeshClient(RedactionService, meshUrl(cfg, "redaction"));
  const router = createMeshClient(RouterService, meshUrl(cfg, "router"));
  const prompts = createMeshClient(PromptRegistryService, meshUrl(cfg, "prompt_registry"));
  const promptAdmin = createMeshClient(PromptAdminService, meshUrl(cfg, "prompt_registry"));
  const metering = createMeshClient(MeteringService, meshUrl(cfg, "metering"));
  const policies = openPolicies(cfg);
  const vault = openVault(cfg, policies, true);
  const events = publisherFromConfig(cfg.events, "ingress", log);
  if (metrics) observePublisher(metrics, events);
  const ingress = createIngress({
    authz,
    admin,
    redaction,
    router,
    prompts,
    promptAdmin,
    metering,
    events,
    log,
    maxBodyBytes: cfg.server.max_body_bytes,
    policies,
    vault,
  });
  return {
    ...ingress,
    stop: async () => {
      await ingress.stop();
      for (const c of [authz, admin, redaction, router, prompts, promptAdmin, metering]) c.close();
      await vault.close();
    },
  };
}
