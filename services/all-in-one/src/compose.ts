import type { EventConsumer, EventPublisher } from "@tessera/events";
import { consumerFromConfig, memoryBusFromConfig, observePublisher, publisherFromConfig } from "@tessera/events";
import type { UsageStore } from "@tessera/usage-store";
import type { DescService } from "@bufbuild/protobuf";
import { AuthzService } from "@tessera/gen/tessera/authz/v1/authz_pb";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { RedactionService } from "@tessera/gen/tessera/redaction/v1/redaction_pb";
import { RouterService } from "@tessera/gen/tessera/router/v1/router_pb";
import { PromptRegistryService } from "@tessera/gen/tessera/promptregistry/v1/prompt_registry_pb";
import { PromptAdminService } from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import { createSqlDatabases } from "@tessera/sql";
import { MeteringService } from "@tessera/gen/tessera/metering/v1/metering_pb";
import { build as buildPromptRegistry } from "@tessera/prompt-registry";
import {
  createDirectClient,
  createMetricsRegistry,
  createPriceTable,
  startServer,
  type BuiltService,
  type ServiceBinding,
  type Config,
  type Logger,
  type RunningServer,
} from "@tessera/runtime";
import { build as buildAuthz } from "@tessera/authz";
import { build as buildRedaction } from "@tessera/redaction";
import { build as buildRouter } from "@tessera/router";
import { createIngress } from "@tessera/ingress";
import { openPolicies, openVault } from "@tessera/guardrails";
import { createMetering, createSpendReader, createUsageStore, spendService } from "@tessera/metering";

/** A running all-in-one gateway. */
export interface AllInOne {
  server: RunningServer;
  /** The usage store metering writes to (tests read it back). */
  store: UsageStore;
  /** The event publisher ingress writes to. */
  events: EventPublisher;
  /** Drain calls, flush events into the store, release everything. */
  stop(): Promise<void>;
}

function eventBus(cfg: Config, log: Logger): { publisher: EventPublisher & { dropped(): number }; consumer: EventConsumer } {
  if (cfg.events.kind === "memory") {
    const bus = memoryBusFromConfig(cfg, log);
    return { publisher: bus, consumer: bus };
  }
  return {
    publisher: publisherFromConfig(cfg.events, "all-in-one", log),
    consumer: consumerFromConfig(cfg, cfg.events, "all-in-one", log),
  };
}

/** The binding of `service` among what a service built. */
function binding<S extends DescService>(built: BuiltService, service: S): ServiceBinding<S> {
  const b = built.bindings.find((x) => x.service.typeName === service.typeName);
  if (!b) throw new Error(`no implementation of ${service.typeName}`);
  return b as unknown as ServiceBinding<S>;
}

/**
 * Every service in one process: the same service code as the mesh, called directly through
 * the same typed clients instead of over HTTP/2, with the embedded defaults unless the configuration
 * names real engines.
 */
export async function startAllInOne(cfg: Config, log: Logger): Promise<AllInOne> {
  // One PGlite (or Postgres pool) for authz and the prompt registry: each instance costs ~300 MB.
  const databases = createSqlDatabases((line) => log.warn(line));
  const store = createUsageStore(cfg, log);
  // authz starts cold budget ledgers from the spend metering stored (same store, in process).
  const spend = createDirectClient(spendService({ spend: createSpendReader({ store }) }));
  const authz = await buildAuthz(cfg, log.child({ component: "authz" }), databases, { spend });
  const adminClient = createDirectClient(binding(authz, AdminService));
  // One vault object for redaction (writes tokens) and ingress (restores them in answers).
  const policies = openPolicies(cfg);
  const vault = openVault(cfg, policies);
  const redaction = await buildRedaction(cfg, { vault });
  const router = await buildRouter(cfg, log.child({ component: "router" }));
  const promptRegistry = await buildPromptRegistry(cfg, log.child({ component: "prompt-registry" }), { databases, admin: adminClient });
  const { publisher, consumer } = eventBus(cfg, log);
  const metrics = createMetricsRegistry("tessera");
  observePublisher(metrics, publisher);
  const metering = createMetering({ consumer, store, prices: createPriceTable(cfg.prices), admin: adminClient, log: log.child({ component: "metering" }), metrics });
  const ingress = createIngress({
    authz: createDirectClient(binding(authz, AuthzService)),
    admin: adminClient,
    redaction: createDirectClient(binding(redaction, RedactionService)),
    router: createDirectClient(binding(router, RouterService)),
    prompts: createDirectClient(binding(promptRegistry, PromptRegistryService)),
    promptAdmin: createDirectClient(binding(promptRegistry, PromptAdminService)),
    metering: createDirectClient(binding(metering, MeteringService)),
    events: publisher,
    log,
    maxBodyBytes: cfg.server.max_body_bytes,
    policies,
    vault,
  });
  await metering.start!();
  const server = await startServer({
    name: "tessera",
    host: cfg.server.host,
    port: cfg.server.port,
    bindings: ingress.bindings,
    rest: ingress.rest,
    log,
    readMaxBytes: cfg.server.max_body_bytes,
    drainTimeoutMs: cfg.server.drain_timeout_ms,
    metrics,
  });
  let stopping: Promise<void> | undefined;
  return {
    server,
    store,
    events: publisher,
    stop() {
      stopping ??= (async () => {
        await server.close();
        await publisher.flush();
        await ingress.stop();
        await metering.stop();
        await router.stop();
        await promptRegistry.stop();
        await authz.stop();
        await databases.close();
        await vault.close();
      })();
      return stopping;
    },
  };
}
