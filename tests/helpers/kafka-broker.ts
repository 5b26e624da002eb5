import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { freePort, REPO } from "./procs.js";

/**
 * Where scripts/infra keeps Kafka's jars: TESSERA_TEST_KAFKA_LIBS, else this checkout's
 * .data/infra/kafka/libs, else the main worktree's (git worktrees share one infra).
 */
export function kafkaLibs(): string {
  const candidates = [process.env["TESSERA_TEST_KAFKA_LIBS"], join(REPO, ".data/infra/kafka/libs")];
  try {
    const common = execFileSync("git", ["rev-parse", "--git-common-dir"], { cwd: REPO, encoding: "utf8" }).trim();
    candidates.push(join(dirname(resolve(REPO, common)), ".data/infra/kafka/libs"));
  } catch {
    /* not a git checkout */
  }
  const found = candidates.find((c) => c && existsSync(c));
  if (!found) throw new Error(`Kafka jars not found (looked in ${candidates.filter(Boolean).join(", ")}); run scripts/infra up kafka, or set TESSERA_TEST_KAFKA_LIBS`);
  return found;
}

/** A single-node KRaft broker of the test's own, which the test may stop and start at will. */
export interface TestBroker {
  /** `127.0.0.1:<port>`. */
  brokers: string;
  /** Stops the broker (SIGTERM, SIGKILL after 30 s); its data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it answers. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  close(): Promise<void>;
  /** The broker's last output lines, for failure messages. */
  output(): string;
}

const JVM = ["-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"];

/**
 * Formats and starts a dedicated broker from the jars scripts/infra uses, on free loopback
 * ports and a temporary directory, so a test can take Kafka down without touching the shared
 * one. Small and quick: one partition per internal topic, no group join delay.
 */
export async function startTestBroker(): Promise<TestBroker> {
  const libs = kafkaLibs();
  const dir = mkdtempSync(join(tmpdir(), "tessera-kafka-"));
  const port = await freePort();
  const controller = await freePort();
  const props = join(dir, "server.properties");
  mkdirSync(join(dir, "data"));
  writeFileSync(
    props,
    [
      "node.id=1",
      "process.roles=broker,controller",
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
      "controller.listener.names=CONTROLLER",
      "inter.broker.listener.name=PLAINTEXT",
      `controller.quorum.voters=1@127.0.0.1:${controller}`,
      `log.dirs=${join(dir, "data")}`,
      "num.partitions=1",
      "auto.create.topics.enable=false",
      "offsets.topic.replication.factor=1",
      "offsets.topic.num.partitions=1",
      "transaction.state.log.replication.factor=1",
      "transaction.state.log.min.isr=1",
      "transaction.state.log.num.partitions=1",
      "group.initial.rebalance.delay.ms=0",
      "num.network.threads=1",
      "num.io.threads=2",
    ].join("\n") + "\n",
  );
  writeFileSync(join(dir, "log4j.properties"), "log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\nlog4j.appender.stderr.Target=System.err\nlog4j.appender.stderr.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n\n");
  const jvm = [...JVM, `-Dlog4j.configuration=file:${join(dir, "log4j.properties")}`, "-cp", `${libs}/*`];
  // Cluster ids are 16 random bytes in URL-safe base64 without padding.
  const clusterId = randomBytes(16).toString("base64url");
  execFileSync("java", [...jvm, "kafka.tools.StorageTool", "format", "-t", clusterId, "-c", props], { stdio: "pipe", timeout: 60_000 });

  const brokers = `127.0.0.1:${port}`;
  const lines: string[] = [];
  let child: ChildProcess | undefined;

  async function ready(timeoutMs: number): Promise<void> {
    const kafka = new Kafka({ brokers: [brokers], clientId: "test-broker-probe", logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 500 });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child?.exitCode !== null && child?.exitCode !== undefined) throw new Error(`test Kafka exited with ${child.exitCode}:\n${lines.join("")}`);
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.listTopics();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`test Kafka not ready after ${timeoutMs} ms:\n${lines.join("")}`);
        await new Promise((r) => setTimeout(r, 250));
      } finally {
        await admin.disconnect().catch(() => {});
      }
    }
  }

  async function start(): Promise<void> {
    if (child) return;
    const c = spawn("java", [...jvm, "kafka.Kafka", props], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (d: Buffer) => {
      lines.push(String(d));
      if (lines.length > 200) lines.shift();
    };
    c.stdout!.on("data", keep);
    c.stderr!.on("data", keep);
    child = c;
    await ready(90_000);
  }

  async function stop(): Promise<void> {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => c.kill("SIGKILL"), 30_000);
      c.once("exit", () => {
        clearTimeout(t);
        resolve();
      });
      c.kill("SIGTERM");
    });
  }

  await start();
  return {
    brokers,
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    output: () => lines.join(""),
  };
}
