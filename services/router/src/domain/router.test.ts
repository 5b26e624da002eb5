import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ChatChunkSchema, ChatRequestSchema, ChatResponseSchema, EmbedRequestSchema, EmbedResponseSchema, Role, type ChatRequest } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError, toTesseraError } from "@tessera/runtime";
import { memoryLogger } from "../../../../tests/helpers/log.js";
import { ProviderError, type ProviderAdapter } from "../providers/index.js";
import { createBreakers, createMemoryBreakerStore } from "./breaker.js";
import { createRouterCore, promptChars, type CallAttributes, type Deployment, type ModelEntry } from "./router.js";
import { createLatencyTracker, estimateCost, orderCandidates, weightedOrder } from "./strategies.js";
import { matchRule } from "./rules.js";

/** One scripted outcome of a call: an answer, an error, or a delay then one of those. */
type Step = "ok" | ProviderError | TesseraError | { delayMs: number; then: "ok" | ProviderError };

const e429 = (retryAfterS?: number) => new ProviderError("rate_limited", "429", true, retryAfterS === undefined ? {} : { retryAfterS });
const e500 = () => new ProviderError("upstream_error", "500", true, { code: "upstream_error" });
const e400 = () => new ProviderError("invalid_request", "400", false, { status: 400 });

/** An adapter whose answers follow a script, recording how many calls it got. */
function scripted(name: string, steps: Step[], opts: { streamChunks?: number; failMidStream?: boolean; embed?: boolean } = {}) {
  let i = 0;
  const next = async (signal: AbortSignal): Promise<void> => {
    let s = steps[Math.min(i, steps.length - 1)]!;
    i++;
    if (!(s instanceof Error) && typeof s === "object") {
      const { delayMs, then } = s;
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, delayMs);
        signal.addEventListener("abort", () => (clearTimeout(t), reject(new ProviderError("timeout", "cancelled", false, { code: "cancelled" }))));
      });
      s = then;
    }
    if (s !== "ok") throw s;
  };
  const adapter: ProviderAdapter & { calls: () => number } = {
    kind: "fake",
    calls: () => i,
    async chat(req, model, signal) {
      await next(signal);
      return create(ChatResponseSchema, { id: name, model, choices: [{ message: { role: Role.ASSISTANT, content: `from ${name}` }, finishReason: "stop" }] });
    },
    async *stream(_req, model, signal) {
      await next(signal);
      for (let k = 0; k < (opts.streamChunks ?? 2); k++) {
        if (k === 1 && opts.failMidStream) throw new ProviderError("upstream_error", "cut", false, { code: "upstream_stream_cut" });
        yield create(ChatChunkSchema, { id: name, model, choices: [{ delta: { content: `${name}${k}` } }] });
      }
    },
    ...(opts.embed !== false && {
      async embed(req, model, signal) {
        await next(signal);
        return create(EmbedResponseSchema, { model, data: req.input.map((_, index) => ({ index, vector: [index] })) });
      },
    }),
    close: async () => {},
  };
  return adapter;
}

function dep(id: string, adapter: ProviderAdapter | undefined, extra: Partial<Deployment> = {}): Deployment {
  return { id, provider: id, providerKind: "fake", model: id, adapter, weight: 1, ...extra };
}

const attrs = (a: Partial<CallAttributes> = {}): CallAttributes => ({ tenantId: "t", headers: {}, metadata: {}, promptChars: 10, ...a });
const chat = (model = "m", content = "hi"): ChatRequest => create(ChatRequestSchema, { model, messages: [{ role: Role.USER, content }] });

async function core(deployments: Deployment[], o: { retries?: number; totalTimeoutMs?: number; model?: Partial<ModelEntry>; threshold?: number; backoffMaxMs?: number } = {}) {
  const breakers = await createBreakers(createMemoryBreakerStore(), { failureThreshold: o.threshold ?? 100, windowMs: 60_000, cooldownMs: 60_000 }, assert.ifError);
  const { log, lines } = memoryLogger("router");
  const model: ModelEntry = { name: "m", ownedBy: "t", strategy: "priority", deployments, routes: [], ...o.model };
  const c = createRouterCore(
    [model],
    { retries: o.retries ?? 1, backoffBaseMs: 5, backoffMaxMs: o.backoffMaxMs ?? 50, totalTimeoutMs: o.totalTimeoutMs ?? 5_000, breakers, latency: createLatencyTracker(0.5), random: () => 0.5 },
    log,
  );
  return { c, breakers, lines };
}

const signal = () => new AbortController().signal;

describe("router core: retries and fallback", () => {
  test("a retryable error is retried on the same deployment, then served there", async () => {
    const a = scripted("a", [e500(), "ok"]);
    const { c, lines } = await core([dep("a", a), dep("b", scripted("b", ["ok"]))]);
    const r = await c.route(chat(), attrs(), signal());
    assert.equal(r.served.deployment, "a");
    assert.equal(r.served.attempts, 2);
    assert.equal(r.served.fallbacks, 0, "a retry is not a fallback");
    assert.equal(a.calls(), 2);
    assert.ok(lines.some((l) => l.includes("retrying")), "the retry is logged");
  });

  test("after the retries it falls back to the next deployment and counts every attempt", async () => {
    const a = scripted("a", [e500()]);
    const { c } = await core([dep("a", a), dep("b", scripted("b", ["ok"]))], { retries: 2 });
    const r = await c.route(chat(), attrs(), signal());
    assert.equal(r.served.deployment, "b");
    assert.equal(r.served.attempts, 4);
    assert.equal(r.served.fallbacks, 1);
    assert.equal(a.calls(), 3);
  });

  test("a non-retryable error is the answer: no retry, no fallback", async () => {
    const a = scripted("a", [e400()]);
    const b = scripted("b", ["ok"]);
    const { c } = await core([dep("a", a), dep("b", b)]);
    await assert.rejects(c.route(chat(), attrs(), signal()), (e: unknown) => toTesseraError(e).kind === "invalid_request");
    assert.equal(a.calls(), 1);
    assert.equal(b.calls(), 0);
  });

  test("a short Retry-After is waited for; a long one falls back at once", async () => {
    const a = scripted("a", [e429(0), "ok"]);
    const { c } = await core([dep("a", a)]);
    assert.equal((await c.route(chat(), attrs(), signal())).served.attempts, 2);
    const slow = scripted("slow", [e429(30)]);
    const b = scripted("b", ["ok"]);
    const { c: c2 } = await core([dep("slow", slow), dep("b", b)], { retries: 3 });
    const t0 = Date.now();
    const r = await c2.route(chat(), attrs(), signal());
    assert.equal(r.served.deployment, "b");
    assert.equal(slow.calls(), 1, "no retry when the provider asks for 30 s");
    assert.ok(Date.now() - t0 < 1_000);
  });

  test("the last deployment's error reaches the caller with its details", async () => {
    const { c } = await core([dep("a", scripted("a", [e429(9)]))], { retries: 0 });
    await assert.rejects(c.route(chat(), attrs(), signal()), (e: unknown) => {
      const t = toTesseraError(e);
      return t.kind === "rate_limited" && t.details.retryAfterS === 9;
    });
  });

  test("the total timeout bounds retries and fallbacks together", async () => {
    const slow = { delayMs: 80, then: e500() } as const;
    const { c } = await core([dep("a", scripted("a", [slow])), dep("b", scripted("b", [slow]))], { retries: 3, totalTimeoutMs: 200 });
    const t0 = Date.now();
    await assert.rejects(c.route(chat(), attrs(), signal()), (e: unknown) => toTesseraError(e).details.code === "total_timeout");
    assert.ok(Date.now() - t0 < 600, `took ${Date.now() - t0} ms`);
  });

  test("the caller's cancel stops the call without retrying", async () => {
    const a = scripted("a", [{ delayMs: 2_000, then: "ok" }]);
    const { c } = await core([dep("a", a), dep("b", scripted("b", ["ok"]))]);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(c.route(chat(), attrs(), ac.signal), (e: unknown) => toTesseraError(e).details.code === "cancelled");
    assert.equal(a.calls(), 1);
  });
});

describe("router core: streams", () => {
  test("a stream falls back before its first chunk", async () => {
    const { c } = await core([dep("a", scripted("a", [e500()])), dep("b", scripted("b", ["ok"]))], { retries: 0 });
    const out: string[] = [];
    let served;
    for await (const m of c.routeStream(chat(), attrs(), signal())) {
      served ??= m.served;
      out.push(m.chunk.choices[0]!.delta!.content);
    }
    assert.deepEqual(out, ["b0", "b1"]);
    assert.equal(served!.deployment, "b");
    assert.equal(served!.attempts, 2);
    assert.equal(served!.fallbacks, 1);
  });

  test("after the first chunk a failure ends the stream: never a second deployment", async () => {
    const b = scripted("b", ["ok"]);
    const { c } = await core([dep("a", scripted("a", ["ok"], { failMidStream: true })), dep("b", b)]);
    const out: string[] = [];
    await assert.rejects(async () => {
      for await (const m of c.routeStream(chat(), attrs(), signal())) out.push(m.chunk.choices[0]!.delta!.content);
    }, (e: unknown) => toTesseraError(e).details.code === "upstream_stream_cut");
    assert.deepEqual(out, ["a0"]);
    assert.equal(b.calls(), 0);
  });
});

describe("router core: circuit breaker", () => {
  test("a deployment that keeps failing is skipped once its breaker opens", async () => {
    const a = scripted("a", [e500()]);
    const b = scripted("b", ["ok"]);
    const { c, breakers } = await core([dep("a", a), dep("b", b)], { retries: 0, threshold: 3 });
    for (let i = 0; i < 3; i++) await c.route(chat(), attrs(), signal());
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(breakers.allow("a"), "open");
    const before = a.calls();
    const r = await c.route(chat(), attrs(), signal());
    assert.equal(r.served.deployment, "b");
    assert.equal(r.served.attempts, 1, "the open deployment costs no attempt");
    assert.equal(r.served.fallbacks, 0, "nor counts as a fallback");
    assert.equal(a.calls(), before);
  });

  test("when every deployment is open the call fails fast with 503 and Retry-After", async () => {
    const { c } = await core([dep("a", scripted("a", [e500()]))], { retries: 0, threshold: 2 });
    for (let i = 0; i < 2; i++) await assert.rejects(c.route(chat(), attrs(), signal()));
    await new Promise((r) => setTimeout(r, 10));
    await assert.rejects(c.route(chat(), attrs(), signal()), (e: unknown) => {
      const t = toTesseraError(e);
      return t.status === 503 && t.details.code === "circuit_open" && (t.details.retryAfterS ?? 0) >= 59;
    });
  });

  test("client errors do not count toward a breaker", async () => {
    const { c, breakers } = await core([dep("a", scripted("a", [e400()]))], { threshold: 2 });
    for (let i = 0; i < 4; i++) await assert.rejects(c.route(chat(), attrs(), signal()));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(breakers.allow("a"), "closed");
  });
});

describe("router core: strategies and routes", () => {
  test("weighted order draws in proportion to weight (10 000 draws)", () => {
    const list = [dep("a", undefined, { weight: 1 }), dep("b", undefined, { weight: 3 }), dep("z", undefined, { weight: 0 })];
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const firsts = { a: 0, b: 0, z: 0 } as Record<string, number>;
    for (let i = 0; i < 10_000; i++) {
      const o = weightedOrder(list, random);
      firsts[o[0]!.id]!++;
      assert.equal(o.length, 3);
      assert.equal(o[2]!.id, "z", "weight 0 always last");
    }
    assert.equal(firsts["z"], 0);
    assert.ok(Math.abs(firsts["b"]! / 10_000 - 0.75) < 0.03, `b first ${firsts["b"]} times`);
  });

  test("least latency measures each deployment once, then prefers the fastest", async () => {
    const slow = scripted("slow", [{ delayMs: 40, then: "ok" }]);
    const fast = scripted("fast", ["ok"]);
    const { c } = await core([dep("slow", slow), dep("fast", fast)], { model: { strategy: "least_latency" } });
    const served: string[] = [];
    for (let i = 0; i < 6; i++) served.push((await c.route(chat(), attrs(), signal())).served.deployment);
    assert.equal(served[0], "slow", "unmeasured deployments go first, in configured order");
    assert.equal(served[1], "fast");
    assert.deepEqual(served.slice(2), ["fast", "fast", "fast", "fast"]);
  });

  test("lowest cost picks the cheapest priced deployment for the call's size; unpriced last", async () => {
    const cheapIn = dep("cheap-in", scripted("cheap-in", ["ok"]), { price: { input: 0.1, output: 10 } });
    const cheapOut = dep("cheap-out", scripted("cheap-out", ["ok"]), { price: { input: 5, output: 0.5 } });
    const unpriced = dep("unpriced", scripted("unpriced", ["ok"]));
    const ctx = (promptChars: number, maxTokens?: number) => ({ latency: createLatencyTracker(0.5), call: { promptChars, maxTokens } });
    assert.deepEqual(orderCandidates("lowest_cost", [unpriced, cheapIn, cheapOut], ctx(400_000, 10)).map((d) => d.id), ["cheap-in", "cheap-out", "unpriced"]);
    assert.deepEqual(orderCandidates("lowest_cost", [unpriced, cheapIn, cheapOut], ctx(40, 4_000)).map((d) => d.id), ["cheap-out", "cheap-in", "unpriced"]);
    assert.equal(estimateCost(cheapIn, { promptChars: 4_000_000, maxTokens: 0 }), 0.1);
    const { c } = await core([unpriced, cheapIn, cheapOut], { model: { strategy: "lowest_cost" } });
    assert.equal((await c.route(chat(), attrs({ promptChars: 400_000 }), signal())).served.deployment, "cheap-in");
  });

  test("conditional routes match tenant, metadata, headers and prompt length; the first match wins", async () => {
    const routes = [
      { when: { tenants: ["acme"], headers: { "x-region": "eu" } }, deployments: ["eu"] },
      { when: { metadata: { tier: "gold" } }, deployments: ["gold"] },
      { when: { min_prompt_chars: 1_000 }, deployments: ["long"] },
    ];
    assert.deepEqual(matchRule(routes, attrs({ tenantId: "acme", headers: { "x-region": "eu" } }))?.deployments, ["eu"]);
    assert.equal(matchRule(routes, attrs({ tenantId: "beta", headers: { "x-region": "eu" } })), undefined);
    assert.deepEqual(matchRule(routes, attrs({ tenantId: "acme", metadata: { tier: "gold" }, promptChars: 5_000 }))?.deployments, ["gold"]);
    assert.deepEqual(matchRule(routes, attrs({ promptChars: 1_000 }))?.deployments, ["long"]);
    const { c } = await core([dep("main", scripted("main", ["ok"])), dep("eu", scripted("eu", ["ok"])), dep("gold", scripted("gold", ["ok"])), dep("long", scripted("long", ["ok"]))], { model: { routes } });
    assert.equal((await c.route(chat(), attrs({ tenantId: "acme", headers: { "x-region": "eu" } }), signal())).served.deployment, "eu");
    assert.equal((await c.route(chat("m", "x".repeat(1_200)), attrs({ promptChars: promptChars(chat("m", "x".repeat(1_200))) }), signal())).served.deployment, "long");
    assert.equal((await c.route(chat(), attrs(), signal())).served.deployment, "main", "no match: every deployment, by the model's strategy");
  });
});

describe("router core: embeddings and errors", () => {
  test("embeddings skip deployments whose provider cannot embed", async () => {
    const { c } = await core([dep("chat-only", scripted("chat-only", ["ok"], { embed: false })), dep("e", scripted("e", ["ok"]))]);
    const r = await c.embed(create(EmbedRequestSchema, { model: "m", input: ["a", "b"] }), attrs(), signal());
    assert.equal(r.served.deployment, "e");
    assert.deepEqual(r.response.data.map((d) => d.index), [0, 1]);
    const { c: none } = await core([dep("chat-only", scripted("chat-only", ["ok"], { embed: false }))]);
    await assert.rejects(none.embed(create(EmbedRequestSchema, { model: "m", input: ["a"] }), attrs(), signal()), (e: unknown) => toTesseraError(e).details.code === "model_cannot_embed");
  });

  test("a request needing a feature goes only to deployments that have it; none → 400 naming it", async () => {
    const noTools = dep("no-tools", scripted("no-tools", ["ok"]), { supports: { tools: false } });
    const tools = dep("tools", scripted("tools", ["ok"]));
    const withTools = create(ChatRequestSchema, { model: "m", messages: [{ role: Role.USER, content: "x" }], tools: [{ type: "function", function: { name: "f" } }] });
    const { c } = await core([noTools, tools]);
    assert.equal((await c.route(withTools, attrs(), signal())).served.deployment, "tools");
    assert.equal((await c.route(chat(), attrs(), signal())).served.deployment, "no-tools", "plain calls still use it first");
    const { c: only } = await core([dep("no-img", scripted("no-img", ["ok"]), { supports: { images: false } })]);
    const withImage = create(ChatRequestSchema, { model: "m", messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "https://x/y.png" } } }] }] });
    await assert.rejects(only.route(withImage, attrs(), signal()), (e: unknown) => {
      const t = toTesseraError(e);
      return t.status === 400 && t.details.code === "unsupported_feature" && /images/.test(t.message);
    });
  });

  test("unknown model and a model with every provider switched off", async () => {
    const { c } = await core([dep("off", undefined)]);
    await assert.rejects(c.route(chat("nope"), attrs(), signal()), (e: unknown) => toTesseraError(e).details.code === "model_not_found");
    await assert.rejects(c.route(chat(), attrs(), signal()), (e: unknown) => toTesseraError(e).details.code === "model_unavailable");
    assert.deepEqual(c.listModels(), []);
  });
});
