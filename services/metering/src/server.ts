import type { Client } from "@connectrpc/connect";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { consumerFromConfig, type EventConsumer, observeConsumer } from "@tessera/events";
import type { UsageStore } from "@tessera/usage-store";
import { createClickHouseUsageStore, createEmbeddedUsageStore } from "@tessera/usage-store";
import {
  createMeshClient,
  createPriceTable,
  meshUrl,
  type BuiltService,
  type Config,
  type Logger,
  type MetricsRegistry,
  observeCounter,
  type PriceTable,
  secondsHistogram,
} from "@tessera/runtime";
import { createMeteringPipeline } from "./domain/pipeline.js";
import { createEventPricer } from "./domain/pricer.js";
import { createUsageApi } from "./domain/usage-api.js";
import { createSpendReader } from "./domain/spend.js";
import { meteringService, spendService } from "./routes.js";

/** Buckets of the batch-insert histogram: a few ms on loopback up to a slow, remote server. */
const INSERT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What metering needs: events in, a store, prices, and authz's admin API to know who asks. */
export interface MeteringDeps {
  consumer: EventConsumer;
  store: UsageStore;
  prices: PriceTable;
  admin: Client<typeof AdminService>;
  log: Logger;
  /** With a registry, metering's figures are served at /metrics. */
  metrics?: MetricsRegistry | undefined;
}

/** Metering wired to a consumer and a store (all-in-one passes the in-process ones). */
export function createMetering(deps: MeteringDeps): BuiltService {
  const m = deps.metrics;
  const pricer = createEventPricer({ prices: deps.prices, log: deps.log });
  const pipeline = createMeteringPipeline({
    ...deps,
    pricer,
    onInsert: m && secondsHistogram(m, "tessera_metering_insert_duration_seconds", "Time to store one batch of request events.", INSERT_BUCKETS),
  });
  if (m) {
    const counts = pipeline.counts();
    observeCounter(m, "tessera_metering_events_stored_total", "Request events written to the usage store.", () => counts.stored);
    observeCounter(m, "tessera_metering_duplicates_skipped_total", "Redelivered request events the store already had, skipped.", () => counts.duplicates);
    observeCounter(m, "tessera_metering_batches_failed_total", "Batches that failed for a transient reason and were retried.", () => counts.failedBatches);
    observeConsumer(m, deps.consumer);
  }
  return {
    bindings: [meteringService({ api: createUsageApi({ store: deps.store }), admin: deps.admin }), spendService({ spend: createSpendReader({ store: deps.store }) })],
    start: () => pipeline.start(),
    stop: async () => {
      await pipeline.stop();
      await deps.store.close();
    },
  };
}

/** The usage store the configuration names. */
export function createUsageStore(cfg: Config, log: Logger): UsageStore {
  const u = cfg.usage_store;
  if (u.kind === "embedded") return createEmbeddedUsageStore({ maxRows: u.max_requests });
  return createClickHouseUsageStore({
    url: u.url,
    database: u.database,
    username: u.username,
    password: u.password_env ? process.env[u.password_env] : undefined,
    log,
  });
}

/** Build metering as its own process: Kafka in, the configured store out, authz over the mesh. */
export async function build(cfg: Config, log: Logger, metrics?: MetricsRegistry): Promise<BuiltService> {
  if (cfg.events.kind !== "kafka")
    throw new Error("metering as its own process needs events.kind: kafka (the in-process queue only works all-in-one)");
  const consumer = consumerFromConfig(cfg, cfg.events, "metering", log);
  const admin = createMeshClient(AdminService, meshUrl(cfg, "authz"));
  const metering = createMetering({ consumer, store: createUsageStore(cfg, log), prices: createPriceTable(cfg.prices), admin, log, metrics });
  return {
    ...metering,
    stop: async () => {
      await metering.stop();
      admin.close();
    },
  };
}

export { createSpendReader } from "./domain/spend.js";
export { spendService } from "./routes.js";
