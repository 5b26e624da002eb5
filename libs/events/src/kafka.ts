import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type RequestEvent,
  RequestEventSchema,
} from "@tessera/gen/tessera/events/v1/request_event_pb";
import {
  type Consumer,
  type EachBatchPayload,
  type KafkaMessage,
  Kafka,
  type logCreator,
  logLevel,
  type Message,
  Partitioners,
  type Producer,
} from "kafkajs";
import {
  abortableSleep,
  backoffMs,
  EventBuffer,
  FlushWaiters,
  type Sequenced,
  Waker,
  within,
} from "./buffer.js";
import { createStderrLogger, errorFields, type PortLogger as Logger } from "@tessera/runtime";
import { openSpool } from "./spool.js";
import { type BatchHandler, type EventConsumer, type EventPublisher, REQUESTS_TOPIC } from "./port.js";

/** Value of the `content-type` header on every event record. */
export const EVENT_CONTENT_TYPE = "application/x-protobuf";
/** Value of the `ce-type` (CloudEvents binary mode) header on every event record. */
export const EVENT_CE_TYPE = "tessera.events.v1.RequestEvent";

/** Connection settings shared by the publisher and the consumer. */
export interface KafkaConnectionOptions {
  /** Bootstrap brokers, as `host:port` strings or one comma-separated string. */
  brokers: string[] | string;
  /** Topic to use. Default {@link REQUESTS_TOPIC}. */
  topic?: string;
  /** Kafka client id; shows in broker logs and quotas. */
  clientId: string;
  /** Where our warnings and kafkajs's own WARN/ERROR lines go. Default: JSON lines on stderr. */
  log?: Logger;
  /** Partitions when this side has to create the topic. Default 6. */
  partitions?: number;
  /** Replication factor when creating the topic. Default: the broker's default. */
  replicationFactor?: number;
  /** TCP connect timeout per broker. Default 3 000 ms. */
  connectionTimeoutMs?: number;
}

/** Options for {@link createKafkaPublisher}. */
export interface KafkaPublisherOptions extends KafkaConnectionOptions {
  /** Most events per `producer.send`. Default 1 000. */
  maxBatch?: number;
  /** How long a batch may wait to fill before it is sent. Default 20 ms. */
  lingerMs?: number;
  /**
   * Events held in memory while Kafka is slow. Past this, with a spool, events go to disk;
   * without one, the oldest are dropped and counted in {@link KafkaPublisher.dropped}.
   * Default 100 000.
   */
  maxBuffered?: number;
  /** First delay before resending after a failed send; doubles per attempt. Default 200 ms. */
  retryInitialMs?: number;
  /** Longest delay between resends. Default 10 000 ms. */
  retryMaxMs?: number;
  /** How long `close()` waits for buffered events to be sent before giving up. Default 10 000 ms. */
  closeTimeoutMs?: number;
  /**
   * A disk spool (see {@link openSpool}): while Kafka fails, and when the memory buffer passes
   * `maxBuffered`, events go to disk, are sent in order once Kafka takes them again, and
   * survive a restart. Without it, an outage longer than the buffer loses events.
   */
  spool?: { dir: string; maxBytes: number; segmentBytes?: number; maxBytesSetting?: string };
}

/** A Kafka-backed {@link EventPublisher}. */
export interface KafkaPublisher extends EventPublisher {
  /** Events dropped (buffer or spool full, published after close, abandoned at close), since creation. */
  dropped(): number;
  /** Events the broker acknowledged, since creation. */
  published(): number;
  /** Events waiting in the disk spool (0 without one). */
  spooledEvents(): number;
  /** Bytes the disk spool holds (0 without one). */
  spooledBytes(): number;
}

/** Options for {@link createKafkaConsumer}. */
export interface KafkaConsumerOptions extends KafkaConnectionOptions {
  /** Consumer group; consumers in one group share the partitions. */
  groupId: string;
  /**
   * Where a group with no committed offset starts. Default true (the earliest retained event),
   * so events published before metering's first start are not missed.
   */
  fromBeginning?: boolean;
  /** Group session timeout; the broker allows 6 000 ms at least by default. Default 30 000 ms. */
  sessionTimeoutMs?: number;
  /** How long the group waits for members to rejoin on a rebalance. Default 60 000 ms. */
  rebalanceTimeoutMs?: number;
  /** Default 3 000 ms; keep well under the session timeout. */
  heartbeatIntervalMs?: number;
  /** How long `start()` waits for the group join before resolving anyway (logged). Default 30 000 ms. */
  joinTimeoutMs?: number;
  /** First delay before redelivering a batch whose handler threw. Default 100 ms. */
  retryInitialMs?: number;
  /** Longest redelivery delay; keep under the session timeout. Default 5 000 ms. */
  retryMaxMs?: number;
  /** Partitions handled in parallel by one consumer. Default 1. */
  partitionsConsumedConcurrently?: number;
  /**
   * Longest a fetch waits on the broker for `minBytes` of new records: the time bound of a
   * batch (events wait at the broker, not in our memory). `stop()` waits for the fetch in
   * flight, so this also bounds how long stopping an idle consumer takes. Default 500 ms.
   */
  maxWaitTimeMs?: number;
  /**
   * Bytes a fetch waits for (up to maxWaitTimeMs) before the broker answers. Larger batches
   * mean fewer, larger inserts downstream (the benchmark showed one insert per handful of
   * events eating metering's CPU). Default 128 KiB.
   */
  minBytes?: number;
  /**
   * Most events per handler call (one store insert): a larger fetch is handled and committed
   * in slices of this size. Default 5 000.
   */
  maxBatch?: number;
  /** Where records that cannot be stored go. Default `<topic>.dlq`. */
  deadLetterTopic?: string;
}

/** A Kafka-backed {@link EventConsumer}. */
export interface KafkaConsumer extends EventConsumer {
  /** Records dead-lettered because they did not decode as a RequestEvent, since creation. */
  undecodable(): number;
}

/** Splits "a:1,b:2" into broker addresses; arrays pass through. */
export function parseBrokers(brokers: string[] | string): string[] {
  const list = (Array.isArray(brokers) ? brokers : brokers.split(","))
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  if (list.length === 0) throw new Error("kafka: brokers must name at least one host:port");
  return list;
}

const DEDUP_LOG_WINDOW_MS = 30_000;

/**
 * Routes kafkajs's own log lines (WARN and ERROR only) into our logger. kafkajs logs every
 * reconnect attempt during an outage; identical lines are repeated at most once per 30 s.
 */
export function kafkaLogCreator(log: Logger): logCreator {
  const lastSeen = new Map<string, number>();
  return () =>
    ({ namespace, level, log: entry }) => {
      const { message, timestamp: _ts, logger: _logger, stack: _stack, ...extra } = entry;
      // Our publisher retries forever on top of kafkajs's bounded retries, so this
      // construction-time warning about bounded retries does not apply.
      if (message.startsWith("Limiting retries for the idempotent producer")) return;
      const key = `${namespace}|${message}`;
      const now = Date.now();
      const last = lastSeen.get(key);
      if (last !== undefined && now - last < DEDUP_LOG_WINDOW_MS) return;
      if (lastSeen.size > 1_000) lastSeen.clear();
      lastSeen.set(key, now);
      const fields = { source: "kafkajs", namespace, ...extra };
      if (level === logLevel.ERROR) log.error(fields, message);
      else if (level === logLevel.WARN) log.warn(fields, message);
    };
}

function positive(fn: string, name: string, value: number, integer = true): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`${fn}: ${name} must be a positive ${integer ? "integer" : "number"}, got ${value}`);
  }
  return value;
}

function makeClient(opts: KafkaConnectionOptions, log: Logger): Kafka {
  return new Kafka({
    clientId: opts.clientId,
    brokers: parseBrokers(opts.brokers),
    connectionTimeout: opts.connectionTimeoutMs ?? 3_000,
    // Few, quick retries inside kafkajs; the loops here retry forever with their own backoff.
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 3 },
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(log),
  });
}

/**
 * Creates `topic` when it does not exist yet; returns true when this call created it. Both
 * the publisher and the consumer call it, so whichever starts first sets the partition count
 * (and the broker's own auto-creation, with its single partition, never gets the chance).
 */
export async function ensureTopic(
  kafka: Kafka,
  topic: string,
  partitions = 6,
  replicationFactor?: number,
): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (existing.includes(topic)) return false;
    return await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: replicationFactor ?? -1 }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** The Kafka record for an event; `bytes` when it is already encoded (replayed from the spool). */
function toMessage(event: RequestEvent, source: string, bytes: Uint8Array = toBinary(RequestEventSchema, event)): Message {
  return {
    key: event.tenantId === "" ? null : event.tenantId,
    value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    headers: {
      "content-type": EVENT_CONTENT_TYPE,
      "ce-type": EVENT_CE_TYPE,
      "ce-specversion": "1.0",
      "ce-id": event.requestId,
      "ce-source": source,
    },
  };
}

/**
 * Creates the producing side on Kafka. Construction never throws for an unreachable cluster
 * and does no network I/O (it opens the spool directory, if any): the first publish starts a
 * background loop that connects and sends in batches.
 *
 * When a send fails, the batch and everything buffered go to the spool (when there is one) and
 * every later event follows them there until the spool is empty again, so order is kept and
 * memory stays flat however long Kafka is down; the loop resends from the spool with backoff.
 * Without a spool events stay in memory (bounded by `maxBuffered`).
 *
 * The producer is idempotent (acks from all in-sync replicas, one request in flight), so a
 * resend after a lost acknowledgement does not duplicate within a producer session; across
 * sessions (and after a crash between a send and the spool's cursor write) duplicates are
 * possible and consumers dedup by request_id.
 *
 * `flush()` resolves once the broker acknowledged every event published before the call
 * (spooled ones included); during an outage it waits for Kafka to come back. `close()` bounds
 * that wait by `closeTimeoutMs` (no wait at all during an outage with a spool), then leaves
 * what is unsent in the spool for the next start (or, without a spool, counts it in
 * `dropped()`).
 */
export function createKafkaPublisher(opts: KafkaPublisherOptions): KafkaPublisher {
  const fn = "createKafkaPublisher";
  const topic = opts.topic ?? REQUESTS_TOPIC;
  const maxBatch = positive(fn, "maxBatch", opts.maxBatch ?? 1_000);
  const lingerMs = positive(fn, "lingerMs", opts.lingerMs ?? 20, false);
  const maxBuffered = positive(fn, "maxBuffered", opts.maxBuffered ?? 100_000);
  const retryInitialMs = positive(fn, "retryInitialMs", opts.retryInitialMs ?? 200, false);
  const retryMaxMs = positive(fn, "retryMaxMs", opts.retryMaxMs ?? 10_000, false);
  const closeTimeoutMs = positive(fn, "closeTimeoutMs", opts.closeTimeoutMs ?? 10_000, false);
  const partitions = positive(fn, "partitions", opts.partitions ?? 6);
  const log = opts.log ?? createStderrLogger("events.kafka.publisher");
  const kafka = makeClient(opts, log);
  const source = `tessera/${opts.clientId}`;
  const spool = opts.spool ? openSpool({ ...opts.spool, log }) : undefined;

  // Without a spool the buffer drops its oldest past maxBuffered; with one, publish spills
  // before it gets there.
  const buffer = new EventBuffer<RequestEvent>(spool ? maxBuffered + 1 : maxBuffered);
  const flushes = new FlushWaiters();
  const waker = new Waker();
  const stopping = new AbortController();
  /** A batch taken from memory and being sent (a spool batch stays counted in the spool). */
  let inFlight: Sequenced<RequestEvent>[] | undefined;
  let producer: Producer | undefined;
  let connecting: Promise<Producer> | undefined;
  let pump: Promise<void> | undefined;
  let outageSince: number | undefined;
  let overflowing = false;
  let closed = false;
  let extraDropped = 0;
  let published = 0;
  let publishedSeq = 0;

  const pending = () => buffer.length + (inFlight?.length ?? 0) + (spool?.records ?? 0);
  // Events are acknowledged in publish order (memory, then spool, then memory again only once
  // the spool is empty), so what is outstanding is always the newest `pending()` events.
  // Events spooled by a previous run count as older than any of ours.
  const lowestOutstanding = () => publishedSeq - pending();
  const spooling = () => spool !== undefined && (outageSince !== undefined || spool.records > 0);

  /** Moves events (oldest first) from memory to the spool. */
  function spill(events: Sequenced<RequestEvent>[]): void {
    for (const e of events) spool!.append(toBinary(RequestEventSchema, e.value));
  }

  async function connected(): Promise<Producer> {
    if (producer) return producer;
    connecting ??= (async () => {
      const p = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 3 },
      });
      try {
        await p.connect();
        if (stopping.signal.aborted) throw new Error("event publisher closed while connecting");
        try {
          await ensureTopic(kafka, topic, partitions, opts.replicationFactor);
        } catch (err) {
          // Not fatal: the topic may exist and this client may just lack admin rights.
          log.warn({ topic, ...errorFields(err) }, "could not check or create the events topic");
        }
        producer = p;
        return p;
      } catch (err) {
        await p.disconnect().catch(() => {});
        throw err;
      }
    })().finally(() => {
      connecting = undefined;
    });
    return connecting;
  }

  async function dropProducer(): Promise<void> {
    const p = producer;
    producer = undefined;
    await p?.disconnect().catch(() => {});
  }

  async function run(): Promise<void> {
    const signal = stopping.signal;
    let attempt = 0;
    while (!signal.aborted) {
      const fromSpool = spool !== undefined && spool.records > 0;
      if (!fromSpool && buffer.length === 0) break;
      if (!fromSpool) {
        const deadline = Date.now() + lingerMs;
        while (!signal.aborted && !closed && buffer.length < maxBatch && flushes.size === 0 && !spooling()) {
          const left = deadline - Date.now();
          if (left <= 0) break;
          await waker.sleep(signal, left);
        }
        if (signal.aborted) break;
        if (spooling()) continue; // the buffer went to the spool while lingering
      }

      const batch = fromSpool ? await spool.read(maxBatch) : undefined;
      if (fromSpool && !batch) break;
      if (!fromSpool) inFlight = buffer.take(maxBatch);
      let messages: Message[];
      try {
        messages = batch
          ? batch.records.map((r) => toMessage(fromBinary(RequestEventSchema, r), source, r))
          : inFlight!.map((b) => toMessage(b.value, source));
      } catch (err) {
        // Only a damaged spool file gets here: those records cannot be sent, ever.
        log.error({ dir: opts.spool?.dir, lost: batch!.records.length, ...errorFields(err) }, "unreadable records in the event spool; skipping them");
        extraDropped += batch!.records.length;
        spool!.commit(batch!);
        continue;
      }
      try {
        const p = await connected();
        await p.send({ topic, messages, acks: -1 });
      } catch (err) {
        if (outageSince === undefined) {
          outageSince = Date.now();
          log.warn(
            { topic, pending: pending(), spool: opts.spool?.dir, ...errorFields(err) },
            spool ? "Kafka unreachable or failing; spooling events to disk and retrying" : "Kafka unreachable or failing; buffering events and retrying",
          );
        }
        // A non-retriable error (e.g. a fenced or out-of-sequence idempotent producer)
        // needs a new producer session; a plain outage does not.
        if ((err as { retriable?: boolean }).retriable === false) await dropProducer();
        if (inFlight && spool) {
          spill([...inFlight, ...buffer.take(buffer.length)]);
          inFlight = undefined;
        }
        await abortableSleep(backoffMs(attempt++, retryInitialMs, retryMaxMs), signal);
        if (inFlight) {
          if (signal.aborted) {
            buffer.requeue(inFlight);
            inFlight = undefined;
            return;
          }
          buffer.requeue(inFlight); // resent first next round
          inFlight = undefined;
        }
        continue;
      }
      attempt = 0;
      published += messages.length;
      if (batch) spool!.commit(batch);
      inFlight = undefined;
      if (outageSince !== undefined) {
        log.info({ topic, downMs: Date.now() - outageSince, spooled: spool?.records ?? 0 }, "Kafka reachable again; sending buffered events");
        outageSince = undefined;
      }
      if (overflowing && buffer.length < maxBuffered / 2) overflowing = false;
      flushes.settle(lowestOutstanding());
    }
  }

  function ensurePump(): void {
    if (pump || stopping.signal.aborted) return;
    pump = run()
      .catch((err: unknown) => log.error(errorFields(err), "event publisher loop crashed"))
      .finally(() => {
        pump = undefined;
        if (pending() > 0 && !stopping.signal.aborted) ensurePump();
      });
  }

  if (spool && spool.records > 0) ensurePump();

  const publisher: KafkaPublisher = {
    publish(event) {
      if (closed) {
        if (extraDropped++ === 0) log.warn({ topic }, "event published after close; dropped");
        return;
      }
      publishedSeq++;
      if (spool && (spooling() || buffer.length >= maxBuffered)) {
        if (buffer.length > 0) spill(buffer.take(buffer.length));
        spool.append(toBinary(RequestEventSchema, event));
      } else if (buffer.push(event)) {
        if (!overflowing) {
          overflowing = true;
          log.warn({ topic, maxBuffered }, "event buffer full; dropping the oldest events");
        }
        flushes.settle(lowestOutstanding());
      }
      if (!pump) ensurePump();
      else if (buffer.length >= maxBatch) waker.poke();
    },

    flush() {
      const p = flushes.wait(publishedSeq - 1, lowestOutstanding());
      waker.poke();
      return p;
    },

    async close() {
      if (closed) return;
      closed = true;
      waker.poke();
      // During an outage with a spool there is nothing to wait for: what is unsent goes to disk.
      const drained = spool && outageSince !== undefined ? false : await within(publisher.flush(), closeTimeoutMs);
      if (!drained) {
        stopping.abort();
        // Disconnecting makes a send stuck in kafkajs's own retries fail, so the loop ends.
        await dropProducer();
        if (pump) await within(pump, 2_000);
        const left = [...(inFlight ?? []), ...buffer.take(buffer.length)];
        inFlight = undefined;
        if (spool) {
          spill(left);
          log.warn({ topic, spooled: spool.records, dir: opts.spool!.dir, closeTimeoutMs }, "event publisher closed with unsent events; they stay in the spool for the next start");
        } else {
          extraDropped += left.length;
          log.error({ topic, lost: left.length, closeTimeoutMs }, "event publisher closed with unsent events; they are lost");
        }
        flushes.releaseAll();
      }
      stopping.abort();
      // A connect still in progress disconnects by itself once it sees the abort.
      if (connecting) await within(connecting, 2_000);
      await dropProducer();
      await spool?.close();
    },

    pending,

    dropped() {
      return buffer.droppedCount + extraDropped + (spool?.droppedCount ?? 0);
    },

    published() {
      return published;
    },

    spooledEvents() {
      return spool?.records ?? 0;
    },

    spooledBytes() {
      return spool?.bytes ?? 0;
    },
  };
  return publisher;
}

/** Headers a dead-lettered record carries besides its own. */
export const DLQ_HEADERS = {
  reason: "tessera-dlq-reason",
  topic: "tessera-dlq-topic",
  partition: "tessera-dlq-partition",
  offset: "tessera-dlq-offset",
  group: "tessera-dlq-group",
} as const;

/** Longest reason written to a dead-letter header. */
const MAX_REASON = 1_000;

/**
 * Creates the consuming side on Kafka. Offsets are committed by hand, per slice of at most
 * `maxBatch` records, only after the handler resolved: a handler that throws gets the same
 * slice again (with capped backoff, never committing past it), and a consumer stopped or
 * killed before the commit leaves it to be delivered again.
 *
 * Records that do not decode, and events the handler rejects for good, go to the dead-letter
 * topic with the reason and their original topic, partition and offset as headers, before the
 * commit; so one bad record never blocks its partition, and none is dropped silently. If the
 * dead-letter topic cannot be written, the slice is retried like a failed handler.
 *
 * `start()` creates the topic if needed, joins the group and rejects if Kafka cannot be
 * reached; once running, kafkajs reconnects by itself. `stop()` waits for the handler in hand.
 */
export function createKafkaConsumer(opts: KafkaConsumerOptions): KafkaConsumer {
  const fn = "createKafkaConsumer";
  if (!opts.groupId) throw new Error(`${fn}: groupId is required`);
  const topic = opts.topic ?? REQUESTS_TOPIC;
  const dlqTopic = opts.deadLetterTopic ?? `${topic}.dlq`;
  if (dlqTopic === topic) throw new Error(`${fn}: deadLetterTopic must differ from topic (${topic})`);
  const partitions = positive(fn, "partitions", opts.partitions ?? 6);
  const maxBatch = positive(fn, "maxBatch", opts.maxBatch ?? 5_000);
  const sessionTimeout = positive(fn, "sessionTimeoutMs", opts.sessionTimeoutMs ?? 30_000);
  const rebalanceTimeout = positive(fn, "rebalanceTimeoutMs", opts.rebalanceTimeoutMs ?? 60_000);
  const heartbeatInterval = positive(fn, "heartbeatIntervalMs", opts.heartbeatIntervalMs ?? 3_000);
  const joinTimeoutMs = positive(fn, "joinTimeoutMs", opts.joinTimeoutMs ?? 30_000);
  const retryInitialMs = positive(fn, "retryInitialMs", opts.retryInitialMs ?? 100, false);
  const retryMaxMs = positive(fn, "retryMaxMs", opts.retryMaxMs ?? 5_000, false);
  const concurrency = positive(fn, "partitionsConsumedConcurrently", opts.partitionsConsumedConcurrently ?? 1);
  const maxWaitTimeInMs = positive(fn, "maxWaitTimeMs", opts.maxWaitTimeMs ?? 500);
  const minBytes = positive(fn, "minBytes", opts.minBytes ?? 128 * 1024);
  const log = opts.log ?? createStderrLogger("events.kafka.consumer");
  const kafka = makeClient(opts, log);

  let current: { consumer: Consumer; ctl: AbortController } | undefined;
  let dlqProducer: Promise<Producer> | undefined;
  let undecodable = 0;
  let deadLettered = 0;

  function deadLetterProducer(): Promise<Producer> {
    dlqProducer ??= (async () => {
      await ensureTopic(kafka, dlqTopic, 1, opts.replicationFactor);
      const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await p.connect();
      return p;
    })().catch((err: unknown) => {
      dlqProducer = undefined;
      throw err;
    });
    return dlqProducer;
  }

  async function sendDeadLetters(partition: number, letters: { message: KafkaMessage; reason: string }[]): Promise<void> {
    const p = await deadLetterProducer();
    await p.send({
      topic: dlqTopic,
      acks: -1,
      messages: letters.map(({ message, reason }) => ({
        key: message.key,
        value: message.value,
        headers: {
          ...message.headers,
          [DLQ_HEADERS.reason]: reason.slice(0, MAX_REASON),
          [DLQ_HEADERS.topic]: topic,
          [DLQ_HEADERS.partition]: String(partition),
          [DLQ_HEADERS.offset]: message.offset,
          [DLQ_HEADERS.group]: opts.groupId,
        },
      })),
    });
  }

  /** Handles one slice of a partition's batch; resolves once it may be committed. */
  async function handleSlice(
    handler: BatchHandler,
    signal: AbortSignal,
    payload: EachBatchPayload,
    slice: KafkaMessage[],
  ): Promise<boolean> {
    const { batch, heartbeat, isRunning, isStale } = payload;
    const events: RequestEvent[] = [];
    const sources: KafkaMessage[] = [];
    const bad: { message: KafkaMessage; reason: string }[] = [];
    for (const m of slice) {
      try {
        if (!m.value) throw new Error("record has no value");
        events.push(fromBinary(RequestEventSchema, m.value));
        sources.push(m);
      } catch (err) {
        bad.push({ message: m, reason: `undecodable: not a ${EVENT_CE_TYPE}: ${(err as Error).message}` });
      }
    }
    const gone = () => signal.aborted || !isRunning() || isStale();
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0 && gone()) return false; // not committed: the next owner gets the slice again
      try {
        const rejected = (events.length > 0 ? await handler(events) : undefined) ?? [];
        const letters = [...bad, ...rejected.map((r) => ({ message: sources[r.index]!, reason: r.reason }))];
        if (letters.length > 0) {
          await sendDeadLetters(batch.partition, letters);
          if (attempt === 0 || deadLettered === 0) {
            log.warn(
              {
                topic: batch.topic,
                partition: batch.partition,
                deadLetterTopic: dlqTopic,
                count: letters.length,
                offsets: letters.slice(0, 10).map((l) => l.message.offset),
                reason: letters[0]!.reason.slice(0, 200),
              },
              "sent records that cannot be stored to the dead-letter topic",
            );
          }
          undecodable += bad.length;
          deadLettered += letters.length;
        }
        if (attempt > 0) log.info({ attempts: attempt + 1, events: events.length }, "event handler recovered");
        return true;
      } catch (err) {
        if ((attempt & (attempt + 1)) === 0) {
          log.warn(
            { ...errorFields(err), attempt: attempt + 1, events: events.length, partition: batch.partition },
            "event handler failed; will redeliver the batch",
          );
        }
        await abortableSleep(backoffMs(attempt, retryInitialMs, retryMaxMs), signal);
        await heartbeat().catch(() => {});
      }
    }
  }

  async function onBatch(handler: BatchHandler, signal: AbortSignal, payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary } = payload;
    for (let i = 0; i < batch.messages.length; i += maxBatch) {
      const slice = batch.messages.slice(i, i + maxBatch);
      if (!(await handleSlice(handler, signal, payload, slice))) return;
      const last = slice.at(-1)!.offset;
      resolveOffset(last);
      await commitOffsetsIfNecessary({
        topics: [
          {
            topic: batch.topic,
            partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }],
          },
        ],
      });
      await heartbeat().catch(() => {});
    }
  }

  return {
    async start(handler) {
      if (current) throw new Error("kafka consumer: already started");
      await ensureTopic(kafka, topic, partitions, opts.replicationFactor);
      const consumer = kafka.consumer({
        groupId: opts.groupId,
        sessionTimeout,
        rebalanceTimeout,
        heartbeatInterval,
        maxWaitTimeInMs,
        minBytes,
        allowAutoTopicCreation: false,
        retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries: 5 },
      });
      const ctl = new AbortController();
      let joined!: () => void;
      const joinedP = new Promise<void>((resolve) => (joined = resolve));
      const offJoin = consumer.on(consumer.events.GROUP_JOIN, () => joined());
      consumer.on(consumer.events.CRASH, (e) => {
        const { error, restart } = e.payload;
        log.error({ topic, groupId: opts.groupId, restart, ...errorFields(error) }, "Kafka consumer crashed");
      });
      try {
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: opts.fromBeginning ?? true });
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: concurrency,
          eachBatch: (payload) => onBatch(handler, ctl.signal, payload),
        });
      } catch (err) {
        await consumer.disconnect().catch(() => {});
        throw err;
      }
      current = { consumer, ctl };
      if (!(await within(joinedP, joinTimeoutMs))) {
        log.warn({ topic, groupId: opts.groupId, joinTimeoutMs }, "consumer group not joined yet; continuing in the background");
      }
      offJoin();
    },

    async stop() {
      const c = current;
      if (!c) return;
      current = undefined;
      c.ctl.abort();
      // disconnect() stops the run loop (waiting for the batch in hand), leaves the group and
      // closes the connections.
      await c.consumer.disconnect();
      const p = dlqProducer;
      dlqProducer = undefined;
      if (p) await (await p.catch(() => undefined))?.disconnect().catch(() => {});
    },

    undecodable() {
      return undecodable;
    },

    deadLettered() {
      return deadLettered;
    },
  };
}
