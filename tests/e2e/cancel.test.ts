import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { parseConfig, sha256Hex } from "@tessera/runtime";
import { startAllInOne, type AllInOne } from "@tessera/all-in-one";
import { memoryLogger } from "../helpers/log.js";

const KEY = "tk-cancel-test-0123456789";

/**
 * An upstream that takes requests and never answers, noting when each one's connection is
 * closed by the gateway: the proof that a caller's disconnect reaches the provider.
 */
async function startHangingUpstream() {
  const closed: { path: string; afterMs: number }[] = [];
  let received = 0;
  const server = http.createServer((req, res) => {
    received++;
    const t0 = Date.now();
    req.resume();
    res.on("close", () => closed.push({ path: req.url ?? "", afterMs: Date.now() - t0 }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    closed,
    received: () => received,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

describe("a caller that goes away cancels the upstream call", () => {
  let upstream: Awaited<ReturnType<typeof startHangingUpstream>>;
  let gw: AllInOne;
  before(async () => {
    upstream = await startHangingUpstream();
    const cfg = parseConfig(
      `server: { host: 127.0.0.1, port: 0 }
api_keys: [{ id: k, tenant: t, key_sha256: ${sha256Hex(KEY)} }]
providers: [{ id: hang, kind: openai, base_url: "${upstream.url}", timeout_ms: 30000 }]
models: [{ name: slow, deployments: [{ provider: hang, model: m }] }]
routing: { retries: 0 }
`,
      "cancel-test",
      {},
    );
    gw = await startAllInOne(cfg, memoryLogger("tessera").log);
  });
  after(async () => {
    await gw.stop();
    await upstream.close();
  });

  async function callAndAbort(stream: boolean): Promise<void> {
    const before = upstream.received();
    const ac = new AbortController();
    const pending = fetch(`${gw.server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "slow", stream, messages: [{ role: "user", content: "hello?" }] }),
      signal: ac.signal,
    });
    while (upstream.received() === before) await new Promise((r) => setTimeout(r, 5));
    const closedBefore = upstream.closed.length;
    ac.abort();
    await assert.rejects(pending, { name: "AbortError" });
    const t0 = Date.now();
    while (upstream.closed.length === closedBefore) {
      assert.ok(Date.now() - t0 < 3_000, "the upstream request was not cancelled within 3 s");
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(upstream.closed.at(-1)!.path, "/v1/chat/completions");
  }

  test("unary: the upstream request is closed as soon as the caller disconnects", async () => {
    await callAndAbort(false);
  });

  test("stream: the same before the first chunk", async () => {
    await callAndAbort(true);
  });
});
