import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { type RequestEvent, RequestEventSchema } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { type Consumer, Kafka, logLevel } from "kafkajs";
import { eventBusContract, sampleEvent, sleep, waitFor } from "./contract.js";
import {
  createKafkaConsumer,
  createKafkaPublisher,
  DLQ_HEADERS,
  EVENT_CE_TYPE,
  EVENT_CONTENT_TYPE,
  ensureTopic,
  type KafkaConsumerOptions,
  parseBrokers,
} from "./kafka.js";
import type { PortLogger as Logger } from "@tessera/runtime";

const BROKERS = process.env["TESSERA_TEST_KAFKA_BROKERS"];

function captureLog() {
  const lines: { level: string; msg: string | undefined; fields: object }[] = [];
  const at = (level: string) => (fields: object, msg?: string) => void lines.push({ level, msg, fields });
  const log: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { log, lines };
}

if (!BROKERS) {
  it("Kafka integration tests need a broker", () => {
    assert.fail(
      "TESSERA_TEST_KAFKA_BROKERS is not set. Start the engines with `scripts/infra up kafka` " +
        'and load their addresses with `eval "$(scripts/infra env)"`, then run the tests again.',
    );
  });
} else {
  const brokers = parseBrokers(BROKERS);
  const unique = (what: string) => `test.${what}.${randomUUID()}`;
  /** Small timeouts so group joins and restarts take well under a second. */
  const fastGroup = {
    sessionTimeoutMs: 6_000,
    rebalanceTimeoutMs: 6_000,
    heartbeatIntervalMs: 500,
    retryInitialMs: 20,
    retryMaxMs: 200,
    maxWaitTimeMs: 100,
    partitions: 2,
  } satisfies Partial<KafkaConsumerOptions>;

  /** Reads a dead-letter topic from the start: each record's request id (from ce-id), reason and headers. */
  function deadLetterReader(topic: string) {
    const letters: { requestId: string; reason: string; headers: Record<string, string>; value: Buffer | null }[] = [];
    let consumer: Consumer | undefined;
    return {
      async read() {
        if (!consumer) {
          const kafka = new Kafka({ brokers, clientId: "test-dlq", logLevel: logLevel.NOTHING });
          await ensureTopic(kafka, topic, 1);
          consumer = kafka.consumer({
            groupId: unique("dlq"),
            sessionTimeout: 6_000,
            heartbeatInterval: 500,
            maxWaitTimeInMs: 100,
          });
          await consumer.connect();
          await consumer.subscribe({ topics: [topic], fromBeginning: true });
          await consumer.run({
            eachMessage: async ({ message }) => {
              const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
              letters.push({ requestId: headers["ce-id"] ?? "", reason: headers[DLQ_HEADERS.reason] ?? "", headers, value: message.value });
            },
          });
        }
        return letters;
      },
      close: async () => consumer?.disconnect(),
    };
  }

  async function pair(log: Logger = captureLog().log) {
    const topic = unique("topic");
    const groupId = unique("group");
    const publisher = createKafkaPublisher({ brokers, topic, clientId: "test-publisher", lingerMs: 5, partitions: 2, log });
    const consumer = createKafkaConsumer({ brokers, topic, groupId, clientId: "test-consumer", log, ...fastGroup });
    const admin = new Kafka({ brokers, clientId: "test-admin", logLevel: logLevel.NOTHING });
    await ensureTopic(admin, topic, 2);
    const dlq = deadLetterReader(`${topic}.dlq`);
    return {
      topic,
      groupId,
      publisher,
      consumer,
      dlq,
      deadLetters: dlq.read,
      cleanup: async () => {
        await consumer.stop();
        await publisher.close();
        await dlq.close();
      },
    };
  }

  eventBusContract("kafka", () => pair());

  /** A loopback port nothing listens on (yet). */
  async function freeLoopbackPort(): Promise<number> {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    return port;
  }

  /**
   * Starts forwarding `port` to the real broker: bootstrap goes through it, then kafkajs talks
   * to the advertised broker address directly.
   */
  async function proxyTo(port: number, broker: string) {
    const [host, brokerPort] = broker.split(":") as [string, string];
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(brokerPort), host);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((r) => proxy.listen(port, "127.0.0.1", r));
    return {
      close: async () => {
        for (const s of sockets) s.destroy();
        await new Promise((r) => proxy.close(r));
      },
    };
  }

  describe("kafka event bus", () => {
    const closers: (() => Promise<unknown>)[] = [];
    after(async () => {
      for (const close of closers.reverse()) await close().catch(() => {});
    });

    it("an unreachable broker: publish does not throw, pending counts, one warning per outage", async () => {
      const { log, lines } = captureLog();
      const publisher = createKafkaPublisher({
        brokers: "127.0.0.1:1",
        clientId: "test-unreachable",
        topic: unique("topic"),
        lingerMs: 1,
        retryInitialMs: 50,
        retryMaxMs: 100,
        closeTimeoutMs: 300,
        connectionTimeoutMs: 200,
        log,
      });
      for (let i = 0; i < 3; i++) publisher.publish(sampleEvent(i));
      assert.equal(publisher.pending(), 3);
      await sleep(1_500);
      assert.equal(publisher.pending(), 3, "kept buffered while Kafka is down");
      const ours = lines.filter((l) => l.msg?.startsWith("Kafka unreachable"));
      assert.equal(ours.length, 1, "one warning for the outage, not one per attempt or event");
      const t0 = Date.now();
      await publisher.close();
      assert.ok(Date.now() - t0 < 5_000, "close is bounded");
      assert.equal(publisher.dropped(), 3, "abandoned events are counted");
      assert.ok(lines.some((l) => l.level === "error" && (l.fields as { lost?: number }).lost === 3));
      assert.equal(publisher.pending(), 0);
    });

    it("events buffered while Kafka is unreachable are sent once it is back", async () => {
      // A port that refuses connections until we start proxying it to the real broker.
      const gatePort = await freeLoopbackPort();

      const { log, lines } = captureLog();
      const topic = unique("topic");
      const publisher = createKafkaPublisher({
        brokers: `127.0.0.1:${gatePort}`,
        topic,
        clientId: "test-outage",
        lingerMs: 1,
        retryInitialMs: 50,
        retryMaxMs: 200,
        partitions: 2,
        connectionTimeoutMs: 500,
        log,
      });
      closers.push(() => publisher.close());
      const sent = Array.from({ length: 10 }, (_, i) => sampleEvent(i));
      for (const e of sent) publisher.publish(e);
      await waitFor(() => lines.some((l) => l.msg?.startsWith("Kafka unreachable")), 10_000, "the outage warning");
      assert.equal(publisher.pending(), 10);

      // Bring the "cluster" back.
      const proxy = await proxyTo(gatePort, brokers[0]!);
      closers.push(async () => {
        await publisher.close();
        await proxy.close();
      });

      await publisher.flush();
      assert.equal(publisher.pending(), 0);
      assert.equal(publisher.dropped(), 0);
      assert.ok(lines.some((l) => l.msg?.startsWith("Kafka reachable again")));

      const got = new Set<string>();
      const consumer = createKafkaConsumer({ brokers, topic, groupId: unique("group"), clientId: "test-c", log, ...fastGroup });
      closers.push(() => consumer.stop());
      await consumer.start(async (batch) => batch.forEach((e) => got.add(e.requestId)));
      await waitFor(() => sent.every((e) => got.has(e.requestId)), 15_000, "buffered events consumed");
    });

    it("with a spool, events published while Kafka is down go to disk and reach Kafka in order once it is back", async () => {
      const gatePort = await freeLoopbackPort();
      const dir = mkdtempSync(join(tmpdir(), "tessera-spool-"));
      closers.push(async () => rmSync(dir, { recursive: true, force: true }));
      const { log, lines } = captureLog();
      const topic = unique("topic");
      const publisher = createKafkaPublisher({
        brokers: `127.0.0.1:${gatePort}`,
        topic,
        clientId: "test-spool",
        lingerMs: 1,
        maxBatch: 7,
        retryInitialMs: 50,
        retryMaxMs: 200,
        partitions: 2,
        connectionTimeoutMs: 300,
        spool: { dir, maxBytes: 1 << 20 },
        log,
      });
      const early = Array.from({ length: 10 }, (_, i) => sampleEvent(i, { tenantId: "t-order" }));
      early.forEach((e) => publisher.publish(e));
      await waitFor(() => lines.some((l) => l.msg?.startsWith("Kafka unreachable or failing; spooling")), 15_000, "the outage warning");
      const late = Array.from({ length: 25 }, (_, i) => sampleEvent(100 + i, { tenantId: "t-order" }));
      late.forEach((e) => publisher.publish(e));
      assert.equal(publisher.spooledEvents(), 35, "the failed batch, the buffer and later events are all on disk");
      assert.ok(publisher.spooledBytes() > 35 * 4);
      assert.equal(publisher.pending(), 35);
      await sleep(100);
      assert.ok(readdirSync(dir).some((f) => f.endsWith(".seg")), "segment files written");

      const proxy = await proxyTo(gatePort, brokers[0]!);
      closers.push(async () => {
        await publisher.close();
        await proxy.close();
      });
      await publisher.flush();
      assert.equal(publisher.spooledEvents(), 0);
      assert.equal(publisher.pending(), 0);
      assert.equal(publisher.published(), 35);
      assert.equal(publisher.dropped(), 0);

      const got: string[] = [];
      const consumer = createKafkaConsumer({ brokers, topic, groupId: unique("group"), clientId: "test-c", log, ...fastGroup });
      closers.push(() => consumer.stop());
      await consumer.start(async (batch) => void got.push(...batch.map((e) => e.requestId)));
      await waitFor(() => got.length >= 35, 15_000, "spooled events consumed");
      assert.deepEqual(got, [...early, ...late].map((e) => e.requestId), "one tenant's events arrive in publish order");
    });

    it("events still spooled at close are sent by the next publisher on the same directory", async () => {
      const dir = mkdtempSync(join(tmpdir(), "tessera-spool-"));
      closers.push(async () => rmSync(dir, { recursive: true, force: true }));
      const topic = unique("topic");
      const { log, lines } = captureLog();
      const down = createKafkaPublisher({
        brokers: "127.0.0.1:1",
        topic,
        clientId: "test-spool-down",
        lingerMs: 1,
        retryInitialMs: 50,
        retryMaxMs: 100,
        closeTimeoutMs: 300,
        connectionTimeoutMs: 200,
        spool: { dir, maxBytes: 1 << 20 },
        log,
      });
      const sent = Array.from({ length: 12 }, (_, i) => sampleEvent(i));
      sent.forEach((e) => down.publish(e));
      await down.close();
      assert.equal(down.dropped(), 0, "nothing lost at close");
      assert.ok(lines.some((l) => l.msg?.includes("stay in the spool for the next start")));

      const up = createKafkaPublisher({ brokers, topic, clientId: "test-spool-up", lingerMs: 1, partitions: 2, spool: { dir, maxBytes: 1 << 20 }, log });
      closers.push(() => up.close());
      assert.equal(up.spooledEvents(), 12, "picked up from disk at start");
      await up.flush();
      assert.equal(up.spooledEvents(), 0);
      const got = new Set<string>();
      const consumer = createKafkaConsumer({ brokers, topic, groupId: unique("group"), clientId: "test-c", log, ...fastGroup });
      closers.push(() => consumer.stop());
      await consumer.start(async (batch) => batch.forEach((e) => got.add(e.requestId)));
      await waitFor(() => sent.every((e) => got.has(e.requestId)), 15_000, "events from the previous publisher consumed");
    });

    it("writes protobuf records keyed by tenant with content-type and ce-type headers", async () => {
      const p = await pair();
      closers.push(p.cleanup);
      const event = sampleEvent(4, { tenantId: "tenant-wire" });
      p.publisher.publish(event);
      await p.publisher.flush();

      const raw = new Kafka({ brokers, clientId: "test-raw", logLevel: logLevel.NOTHING }).consumer({
        groupId: unique("raw"),
        sessionTimeout: 6_000,
        heartbeatInterval: 500,
        maxWaitTimeInMs: 100,
      });
      closers.push(() => raw.disconnect());
      await raw.connect();
      await raw.subscribe({ topics: [p.topic], fromBeginning: true });
      let record: { key: Buffer | null; value: Buffer | null; headers?: Record<string, unknown> } | undefined;
      await raw.run({ eachMessage: async ({ message }) => void (record = message) });
      await waitFor(() => record !== undefined, 15_000, "raw record");
      assert.equal(record!.key?.toString(), "tenant-wire");
      assert.equal(String(record!.headers?.["content-type"]), EVENT_CONTENT_TYPE);
      assert.equal(String(record!.headers?.["ce-type"]), EVENT_CE_TYPE);
      assert.equal(String(record!.headers?.["ce-id"]), event.requestId);
      const decoded = fromBinary(RequestEventSchema, record!.value!);
      assert.equal(decoded.requestId, event.requestId);
      assert.equal(decoded.timeUnixMs, event.timeUnixMs);
    });

    it("sends records that do not decode to the dead-letter topic with the reason and origin, without blocking the partition", async () => {
      const p = await pair();
      closers.push(p.cleanup);
      const raw = new Kafka({ brokers, clientId: "test-garbage", logLevel: logLevel.NOTHING }).producer();
      await raw.connect();
      closers.push(() => raw.disconnect());
      const before = sampleEvent(1, { tenantId: "t-bad" });
      const afterBad = sampleEvent(2, { tenantId: "t-bad" });
      p.publisher.publish(before);
      await p.publisher.flush();
      await raw.send({
        topic: p.topic,
        messages: [
          { key: "t-bad", value: Buffer.from([0xff, 0xff, 0xff, 0xff]), headers: { "ce-id": "garbage-1" } },
          { key: "t-bad", value: null, headers: { "ce-id": "garbage-2" } },
        ],
      });
      p.publisher.publish(afterBad);
      await p.publisher.flush();

      const got: RequestEvent[] = [];
      await p.consumer.start(async (batch) => void got.push(...batch));
      await waitFor(() => got.some((e) => e.requestId === afterBad.requestId), 15_000, "the event after the bad records");
      assert.deepEqual(
        got.map((e) => e.requestId),
        [before.requestId, afterBad.requestId],
      );
      let letters = await p.dlq.read();
      const deadline = Date.now() + 15_000;
      while (letters.length < 2 && Date.now() < deadline) {
        await sleep(50);
        letters = await p.dlq.read();
      }
      assert.deepEqual(letters.map((l) => l.requestId), ["garbage-1", "garbage-2"]);
      const [first, second] = letters as [(typeof letters)[0], (typeof letters)[0]];
      assert.match(first.reason, /^undecodable: not a tessera\.events\.v1\.RequestEvent: /);
      assert.match(second.reason, /record has no value/);
      assert.equal(first.headers[DLQ_HEADERS.topic], p.topic);
      assert.equal(first.headers[DLQ_HEADERS.offset], "1");
      assert.equal(second.headers[DLQ_HEADERS.offset], "2");
      assert.equal(first.headers[DLQ_HEADERS.group], p.groupId);
      assert.ok(["0", "1"].includes(first.headers[DLQ_HEADERS.partition]!));
      assert.deepEqual(first.value, Buffer.from([0xff, 0xff, 0xff, 0xff]), "the original bytes are kept");
      const consumer = p.consumer as ReturnType<typeof createKafkaConsumer>;
      assert.equal(consumer.undecodable(), 2);
      assert.equal(consumer.deadLettered(), 2);
    });

    it("a new consumer in the same group starts after the offsets the previous one committed", async () => {
      const p = await pair();
      closers.push(p.cleanup);
      const first = new Set<string>();
      await p.consumer.start(async (batch) => batch.forEach((e) => first.add(e.requestId)));
      const a = Array.from({ length: 8 }, (_, i) => sampleEvent(i));
      a.forEach((e) => p.publisher.publish(e));
      await waitFor(() => a.every((e) => first.has(e.requestId)), 15_000, "first events");
      await p.consumer.stop();

      const b = Array.from({ length: 8 }, (_, i) => sampleEvent(50 + i));
      b.forEach((e) => p.publisher.publish(e));
      await p.publisher.flush();
      const other = createKafkaConsumer({
        brokers,
        topic: p.topic,
        groupId: p.groupId,
        clientId: "test-other",
        log: captureLog().log,
        ...fastGroup,
      });
      closers.push(() => other.stop());
      const second: string[] = [];
      await other.start(async (batch) => void second.push(...batch.map((e) => e.requestId)));
      await waitFor(() => b.every((e) => second.includes(e.requestId)), 15_000, "later events in the new consumer");
      await sleep(300);
      assert.deepEqual([...second].sort(), b.map((e) => e.requestId).sort());
    });
  });
}
