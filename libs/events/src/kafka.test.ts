import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import net from "node:net";
import { after, describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { type RequestEvent, RequestEventSchema } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { Kafka, logLevel } from "kafkajs";
import { eventBusContract, sampleEvent, sleep, waitFor } from "./contract.js";
import {
  createKafkaConsumer,
  createKafkaPublisher,
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

  async function pair(log: Logger = captureLog().log) {
    const topic = unique("topic");
    const groupId = unique("group");
    const publisher = createKafkaPublisher({ brokers, topic, clientId: "test-publisher", lingerMs: 5, partitions: 2, log });
    const consumer = createKafkaConsumer({ brokers, topic, groupId, clientId: "test-consumer", log, ...fastGroup });
    const admin = new Kafka({ brokers, clientId: "test-admin", logLevel: logLevel.NOTHING });
    await ensureTopic(admin, topic, 2);
    return {
      topic,
      groupId,
      publisher,
      consumer,
      cleanup: async () => {
        await consumer.stop();
        await publisher.close();
      },
    };
  }

  eventBusContract("kafka", () => pair());

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
      const [host, port] = brokers[0]!.split(":") as [string, string];
      const probe = net.createServer();
      await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
      const gatePort = (probe.address() as net.AddressInfo).port;
      await new Promise<void>((r) => probe.close(() => r()));

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

      // Bring the "cluster" back: bootstrap goes through the proxy, then kafkajs talks to the
      // advertised broker address directly.
      const sockets = new Set<net.Socket>();
      const proxy = net.createServer((client) => {
        const upstream = net.connect(Number(port), host);
        sockets.add(client).add(upstream);
        client.pipe(upstream).pipe(client);
        client.on("error", () => upstream.destroy());
        upstream.on("error", () => client.destroy());
      });
      await new Promise<void>((r) => proxy.listen(gatePort, "127.0.0.1", r));
      closers.push(async () => {
        await publisher.close();
        for (const s of sockets) s.destroy();
        await new Promise((r) => proxy.close(r));
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

    it("skips and counts records that do not decode, without blocking the partition", async () => {
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
          { key: "t-bad", value: Buffer.from([0xff, 0xff, 0xff, 0xff]) },
          { key: "t-bad", value: null },
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
      const consumer = p.consumer as ReturnType<typeof createKafkaConsumer>;
      assert.equal(consumer.undecodable(), 2);
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
