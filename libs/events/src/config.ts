import { join } from "node:path";
import { type Config, type MetricsRegistry, observeCounter, observeGauge, type PortLogger as Logger } from "@tessera/runtime";
import { createKafkaConsumer, createKafkaPublisher, type KafkaConsumer, type KafkaPublisher } from "./kafka.js";
import { createMemoryEventBus, type MemoryEventBus } from "./memory.js";
import type { EventConsumer, EventPublisher } from "./port.js";

/** The `events:` section when it names Kafka. */
export type KafkaEventsConfig = Extract<Config["events"], { kind: "kafka" }>;

/**
 * The Kafka publisher `events:` configures for process `service`, which names its spool
 * directory (`.data/spool/<service>` unless `events.spool.dir` is set).
 */
export function publisherFromConfig(events: KafkaEventsConfig, service: string, log: Logger): KafkaPublisher {
  const s = events.spool;
  return createKafkaPublisher({
    brokers: events.brokers,
    topic: events.topic,
    clientId: `tessera-${service}`,
    maxBuffered: events.max_buffered,
    log,
    ...(s.max_bytes > 0
      ? {
          spool: {
            dir: s.dir || join(".data", "spool", service),
            maxBytes: s.max_bytes,
            segmentBytes: s.segment_bytes,
            maxBytesSetting: "events.spool.max_bytes",
          },
        }
      : {}),
  });
}

/** Metering's consumer as `events:` and `metering:` configure it. */
export function consumerFromConfig(cfg: Config, events: KafkaEventsConfig, service: string, log: Logger): KafkaConsumer {
  return createKafkaConsumer({
    brokers: events.brokers,
    topic: events.topic,
    groupId: events.group_id,
    deadLetterTopic: events.dead_letter_topic,
    clientId: `tessera-${service}`,
    maxBatch: cfg.metering.batch_max_events,
    maxWaitTimeMs: cfg.metering.batch_max_ms,
    partitionsConsumedConcurrently: cfg.metering.parallel_batches,
    minBytes: cfg.metering.batch_min_bytes,
    log,
  });
}

/** The in-process bus of the all-in-one topology, batching as `metering:` says. */
export function memoryBusFromConfig(cfg: Config, log: Logger): MemoryEventBus {
  return createMemoryEventBus({ maxBatch: cfg.metering.batch_max_events, maxWaitMs: cfg.metering.batch_max_ms, log });
}

/** Publisher figures, read at scrape time. */
export function observePublisher(
  registry: MetricsRegistry,
  p: EventPublisher & { dropped(): number } & Partial<Pick<KafkaPublisher, "published" | "spooledEvents" | "spooledBytes">>,
): void {
  observeGauge(registry, "tessera_events_pending", "Request events published and not yet acknowledged by the bus (memory and spool).", () => p.pending());
  observeCounter(registry, "tessera_events_dropped_total", "Request events dropped: spool or buffer full, or abandoned at close.", () => p.dropped());
  const { published, spooledEvents, spooledBytes } = p;
  if (published) observeCounter(registry, "tessera_events_published_total", "Request events the broker acknowledged.", () => published());
  if (spooledEvents) observeGauge(registry, "tessera_events_spool_events", "Request events waiting in the disk spool.", () => spooledEvents());
  if (spooledBytes) observeGauge(registry, "tessera_events_spool_bytes", "Bytes the disk spool holds.", () => spooledBytes());
}

/** Consumer figures, read at scrape time. */
export function observeConsumer(registry: MetricsRegistry, c: EventConsumer): void {
  observeCounter(
    registry,
    "tessera_metering_events_dead_lettered_total",
    "Request events sent to the dead letters: undecodable, or refused for good by the usage store.",
    () => c.deadLettered(),
  );
}
