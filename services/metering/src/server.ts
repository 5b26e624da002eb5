import type { EventConsumer } from "@tessera/events";
import { createKafkaConsumer } from "@tessera/events";
import type { UsageStore } from "@tessera/usage-store";
import { createClickHouseUsageStore, createEmbeddedUsageStore } from "@tessera/usage-store";
import type { BuiltService, Config, Logger } from "@tessera/runtime";
import { createMeteringPipeline } from "./domain/pipeline.js";
import { meteringService } from "./routes.js";

/** Metering wired to a consumer and a store (all-in-one passes the in-process ones). */
export function createMetering(deps: { consumer: EventConsumer; store: UsageStore; log: Logger }): BuiltService {
  const pipeline = createMeteringPipeline(deps);
  return {
    bindings: [meteringService({ store: deps.store })],
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

/** Build metering as its own process: Kafka in, the configured store out. */
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
  return createMetering({ consumer, store: createUsageStore(cfg, log), log });
}
