import type { RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";

/** The Kafka topic (or in-process queue name) request events travel on. */
export const REQUESTS_TOPIC = "tessera.requests.v1";

/** Where events that cannot be stored go, with the reason (see {@link DeadLetter}). */
export const DEAD_LETTER_TOPIC = "tessera.requests.v1.dlq";

/**
 * The producing side of the event bus, used by ingress on the hot path.
 *
 * `publish` never blocks the caller and never throws: the event is buffered and sent in the
 * background in batches. `flush` resolves when everything published so far has been handed
 * to the bus (or given up on and logged); `close` flushes, then releases connections.
 */
export interface EventPublisher {
  publish(event: RequestEvent): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Events buffered and not yet acknowledged by the bus. */
  pending(): number;
}

/**
 * An event of a batch that its handler could not store and never will (a schema or
 * validation error, not an outage): `index` into the batch, and why. The consumer sends it to
 * the dead-letter destination with the reason, then acknowledges it with the rest.
 */
export interface DeadLetter {
  index: number;
  reason: string;
}

/**
 * A batch handed to a consumer. Delivery is at least once: the batch is acknowledged (the
 * offsets committed) only after the handler's promise resolves, so a handler that throws or a
 * process that dies mid-batch sees the same events again. Consumers dedup by request_id.
 * A handler resolves with the events it rejects for good, if any (see {@link DeadLetter}).
 */
export type BatchHandler = (events: RequestEvent[]) => Promise<void | DeadLetter[]>;

/** The consuming side of the event bus, used by metering. */
export interface EventConsumer {
  /** Start delivering batches to `handler`; resolves once the consumer is running. */
  start(handler: BatchHandler): Promise<void>;
  /** Stop after the batch in hand is handled and acknowledged. */
  stop(): Promise<void>;
  /** Records dead-lettered since creation: undecodable ones and those handlers rejected. */
  deadLettered(): number;
}
