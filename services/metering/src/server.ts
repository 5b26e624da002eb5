import type { Client } from "@connectrpc/connect";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import type { EventConsumer } from "@tessera/events";
import { createKafkaConsumer } from "@tessera/events";
import type { UsageStore } from "@tessera/usage-store";
import { createClickHouseUsageStore, createEmbeddedUsageStore } from "@tessera/usage-store";
import { createMeshClient, createPriceTable, meshUrl, type BuiltService, type Config, type Logger, type PriceTable } from "@tessera/runtime";
import { createMeteringPipeline } from "./domain/pipeline.js";
import { createEventPricer } from "./domain/pricer.js";
import { createUsageApi } from "./domain/usage-api.js";
import { meteringService } from "./routes.js";

/** What metering needs: events in, a store, prices, and authz's admin API to know who asks. */
export interface MeteringDeps {
  consumer: EventConsumer;
  store: UsageStore;
  prices: PriceTable;
  admin: Client<typeof AdminService>;
  log: Logger;
}

/** Metering wired to a consumer and a store (all-in-one passes the in-process ones). */
export function createMetering(deps: MeteringDeps): BuiltService {
  const pricer = createEventPricer({ prices: deps.prices, log: deps.log });
  const pipeline = createMeteringPipeline({ ...deps, pricer });
  return {
    bindings: [meteringService({ api: createUsageApi({ store: deps.store }), admin: deps.admin })],
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
export async function build(cfg: Config, log: Logger): Promise<BuiltService> {
  if (cfg.events.kind !== "kafka")
    throw new Error("metering as its own process needs events.kind: kafka (the in-process queue only works all-in-one)");
  const consumer = createKafkaConsumer({
    brokers: cfg.events.brokers,
    topic: cfg.events.topic,
    groupId: cfg.events.group_id,
    clientId: "tessera-metering",
    log,
  });
  const admin = createMeshClient(AdminService, meshUrl(cfg, "authz"));
  const metering = createMetering({ consumer, store: createUsageStore(cfg, log), prices: createPriceTable(cfg.prices), admin, log });
  return {
    ...metering,
    stop: async () => {
      await metering.stop();
      admin.close();
    },
  };
}
