import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { createKafkaConsumer, createKafkaPublisher, DLQ_HEADERS, ensureTopic, type KafkaConsumer } from "@tessera/events";
import { createClickHouseUsageStore } from "@tessera/usage-store";
import { type Consumer, Kafka, logLevel, type Producer } from "kafkajs";
import { usageEvent } from "../../libs/usage-store/src/contract.js";
import { createPriceTable } from "@tessera/runtime";
import { createMeteringPipeline } from "../../services/metering/src/domain/pipeline.js";
import { createEventPricer } from "../../services/metering/src/domain/pricer.js";
import { memoryLogger } from "../helpers/log.js";
import { eventually, freePort, requireEnv } from "../helpers/procs.js";

const fastGroup = { sessionTimeoutMs: 6_000, rebalanceTimeoutMs: 6_000, heartbeatIntervalMs: 500, maxWaitTimeMs: 100, retryInitialMs: 50, retryMaxMs: 400, partitions: 2 };

/**
 * Poison messages through the real pipeline: metering's consumer on the shared Kafka, the
 * pipeline in this process, the real ClickHouse. A schema drift (a column whose type no longer
 * holds what events carry) makes ClickHouse refuse some rows for good.
 */
describe("dead letters: poison events against real Kafka and ClickHouse", { timeout: 120_000 }, () => {
  const id = randomBytes(5).toString("hex");
  const database = `tessera_dlq_${id}`;
  let brokers: string[];
  let chUrl: string;
  let ch: ClickHouseClient;
  let kafka: Kafka;
  let raw: Producer;
  const closers: (() => Promise<unknown>)[] = [];

  before(async () => {
    brokers = requireEnv("TESSERA_TEST_KAFKA_BROKERS").split(",");
    chUrl = requireEnv("TESSERA_TEST_CLICKHOUSE_URL");
    ch = createClient({ url: chUrl, compression: { request: false, response: false } });
    kafka = new Kafka({ brokers, clientId: "test-dlq", logLevel: logLevel.NOTHING });
    raw = kafka.producer();
    await raw.connect();
    const store = createClickHouseUsageStore({ url: chUrl, database });
    await store.migrate();
    await store.close();
    await ch.command({ query: `ALTER TABLE ${database}.requests MODIFY COLUMN user_id UInt64` });
  });

  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
    await raw?.disconnect();
    await ch?.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch?.close();
  });

  /** Metering's pipeline on `topic`, storing through `url` (the real server, or a gate in front of it). */
  function metering(topic: string, groupId: string, url = chUrl) {
    const { log } = memoryLogger("metering");
    const consumer: KafkaConsumer = createKafkaConsumer({ brokers, topic, groupId, clientId: "test-metering", log, maxBatch: 50, ...fastGroup });
    const store = createClickHouseUsageStore({ url, database, log, requestTimeoutMs: 3_000 });
    const pipeline = createMeteringPipeline({ consumer, store, pricer: createEventPricer({ prices: createPriceTable([]), log }), log });
    closers.push(async () => {
      await pipeline.stop();
      await store.close();
    });
    return { pipeline, consumer };
  }

  async function readDeadLetters(topic: string) {
    const letters: { headers: Record<string, string>; value: Buffer | null }[] = [];
    await ensureTopic(kafka, topic, 1);
    const c: Consumer = kafka.consumer({ groupId: `dlq-reader-${randomBytes(4).toString("hex")}`, sessionTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 });
    closers.push(() => c.disconnect());
    await c.connect();
    await c.subscribe({ topics: [topic], fromBeginning: true });
    await c.run({
      eachMessage: async ({ message }) =>
        void letters.push({ headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])), value: message.value }),
    });
    return letters;
  }

  async function storedIds(tenant: string): Promise<string[]> {
    const rs = await ch.query({ query: `SELECT request_id FROM ${database}.requests WHERE tenant_id = '${tenant}' ORDER BY request_id`, format: "JSONEachRow" });
    return (await rs.json<{ request_id: string }>()).map((r) => r.request_id);
  }

  test("refused rows and undecodable records go to the dead-letter topic with the reason; their neighbours are stored and nothing is redelivered", async () => {
    const topic = `test.dlq.${id}.poison`;
    const groupId = `metering-${id}-poison`;
    const tenant = `t-poison-${id}`;
    const publisher = createKafkaPublisher({ brokers, topic, clientId: "test-ingress", lingerMs: 2, partitions: 2, log: memoryLogger().log });
    closers.push(() => publisher.close());
    const good = Array.from({ length: 40 }, (_, i) => usageEvent({ tenantId: tenant, userId: String(1000 + i) }));
    const poison = [usageEvent({ tenantId: tenant, userId: "alice" }), usageEvent({ tenantId: tenant, userId: "bob" })];
    // Poison mixed into the good ones, in the same batches.
    [...good.slice(0, 15), poison[0]!, ...good.slice(15, 30), poison[1]!, ...good.slice(30)].forEach((e) => publisher.publish(e));
    await publisher.flush();
    await raw.send({ topic, messages: [{ key: tenant, value: Buffer.from("not protobuf at all"), headers: { "ce-id": "garbage" } }] });

    const m = metering(topic, groupId);
    await m.pipeline.start();
    await eventually(async () => ((await storedIds(tenant)).length >= good.length ? true : undefined), 30_000, "the good events stored");
    const letters = await readDeadLetters(`${topic}.dlq`);
    await eventually(async () => (letters.length >= 3 ? true : undefined), 30_000, "three dead letters");

    assert.deepEqual(await storedIds(tenant), good.map((e) => e.requestId).sort(), "every good event stored, no poison");
    const byId = new Map(letters.map((l) => [l.headers["ce-id"], l]));
    for (const p of poison) {
      const l = byId.get(p.requestId);
      assert.ok(l, `poison ${p.userId} dead-lettered`);
      assert.match(l.headers[DLQ_HEADERS.reason]!, /^rejected by the usage store: ClickHouse refused the rows \(code \d+\)/);
      assert.equal(l.headers[DLQ_HEADERS.topic], topic);
      assert.match(l.headers[DLQ_HEADERS.offset]!, /^\d+$/);
      assert.equal(l.headers["ce-type"], "tessera.events.v1.RequestEvent", "the original headers are kept");
    }
    assert.match(byId.get("garbage")!.headers[DLQ_HEADERS.reason]!, /^undecodable: /);
    assert.equal(m.pipeline.counts().stored, good.length);
    assert.equal(m.consumer.deadLettered(), 3);

    // Committed: a restarted consumer in the same group gets nothing again.
    await m.pipeline.stop();
    let handled = 0;
    const probe = createKafkaConsumer({ brokers, topic, groupId, clientId: "test-probe", log: memoryLogger().log, ...fastGroup });
    closers.push(() => probe.stop());
    await probe.start(async (events) => void (handled += events.length));
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(handled, 0, "the batch with the poison was committed");
    assert.equal(letters.length, 3, "no dead letter twice");
  });

  test("ClickHouse unreachable: batches are retried, never committed nor dead-lettered, and stored once it is back", async () => {
    const topic = `test.dlq.${id}.outage`;
    const groupId = `metering-${id}-outage`;
    const tenant = `t-outage-${id}`;
    const gate = await tcpGate(new URL(chUrl));
    closers.push(() => gate.shut());
    const m = metering(topic, groupId, gate.url);
    await m.pipeline.start();
    await gate.shut();

    const publisher = createKafkaPublisher({ brokers, topic, clientId: "test-ingress", lingerMs: 2, partitions: 2, log: memoryLogger().log });
    closers.push(() => publisher.close());
    const events = Array.from({ length: 30 }, (_, i) => usageEvent({ tenantId: tenant, userId: String(i) }));
    events.forEach((e) => publisher.publish(e));
    await publisher.flush();
    await eventually(async () => (m.pipeline.counts().failedBatches >= 2 ? true : undefined), 30_000, "failed inserts retried");
    assert.equal(m.consumer.deadLettered(), 0, "an outage is not a reason to dead-letter");
    assert.equal(m.pipeline.counts().stored, 0);

    await gate.open();
    await eventually(async () => ((await storedIds(tenant)).length >= events.length ? true : undefined), 30_000, "the events stored after the outage");
    assert.deepEqual(await storedIds(tenant), events.map((e) => e.requestId).sort());
    assert.equal(m.consumer.deadLettered(), 0);
  });
});

/** A TCP forwarder to `target` that can refuse connections (shut) and accept them again (open). */
async function tcpGate(target: URL) {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const gate = {
    url: `http://127.0.0.1:${port}`,
    async open() {
      server = net.createServer((client) => {
        const up = net.connect(Number(target.port), target.hostname);
        sockets.add(client).add(up);
        client.pipe(up).pipe(client);
        client.on("error", () => up.destroy());
        up.on("error", () => client.destroy());
      });
      await new Promise<void>((r) => server!.listen(port, "127.0.0.1", r));
    },
    async shut() {
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      if (s) await new Promise((r) => s.close(r));
    },
  };
  await gate.open();
  return gate;
}
