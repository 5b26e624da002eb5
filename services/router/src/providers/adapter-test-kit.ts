/**
 * The harness every provider's tests share: an adapter-and-fake lifecycle, reading and folding
 * a stream, asserting a ProviderError, and feeding SSE bytes through the parser the adapters
 * use. One copy, so a fix to the harness reaches every provider. Test code.
 */
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, Role, type ChatChunk } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { parseSse } from "@tessera/openai-format";
import { ProviderError } from "./errors.js";
import type { ProviderAdapter } from "./types.js";
import type { ProviderFake } from "./fake-scenario.js";

/** A started fake and the adapter pointed at it, readable once `before` has run. */
export interface FakeAdapter<F, A> {
  readonly fake: F;
  readonly adapter: A;
}

/**
 * Register the shared lifecycle in the current suite: start the fake and build the adapter
 * before the tests, close both after them, and before each test put the fake back in mode
 * "ok" with no recorded calls (`reset` adds what a provider's fake needs besides).
 */
export function useFakeAdapter<F extends ProviderFake<string>, A extends ProviderAdapter = ProviderAdapter>(
  start: () => Promise<F>,
  adapter: (fake: F) => A,
  reset?: (fake: F) => void,
): FakeAdapter<F, A> {
  let fake: F | undefined;
  let built: A | undefined;
  before(async () => {
    fake = await start();
    built = adapter(fake);
  });
  after(async () => {
    await built?.close();
    await fake?.close();
  });
  beforeEach(() => {
    const f = fake!;
    (f as ProviderFake<string>).mode = "ok";
    f.calls.length = 0;
    reset?.(f);
  });
  return {
    get fake() {
      return fake!;
    },
    get adapter() {
      return built!;
    },
  };
}

/** A signal that ends a test's call after five seconds. */
export const signal = (): AbortSignal => AbortSignal.timeout(5_000);

/** Read a whole stream. */
export async function collect(it: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

/** One tool call folded from its stream fragments. */
export interface FoldedCall {
  id: string;
  type: string;
  name: string;
  arguments: string;
}

/** Collected output of a stream, folded the way a client would. */
export interface Assembled {
  chunks: ChatChunk[];
  /** The concatenated content deltas (`content` is the same text). */
  text: string;
  content: string;
  /** How many deltas carried the assistant role. */
  roleChunks: number;
  /** Tool calls by index, in the order their first fragment arrived. */
  calls: Map<number, FoldedCall>;
  /** [index, id, name, arguments] per tool call, sorted by index. */
  callList: [number, string, string, string][];
  /** The last finish reason seen ("" for none). */
  finish: string;
  /** The last usage seen. */
  usage: ChatChunk["usage"];
  /** The final chunk. */
  last: ChatChunk;
}

/** Assemble text, tool calls (by index), finish reason and usage from chunks. */
export function assemble(chunks: ChatChunk[]): Assembled {
  let text = "";
  let finish = "";
  let roleChunks = 0;
  let usage: ChatChunk["usage"];
  const calls = new Map<number, FoldedCall>();
  for (const c of chunks) {
    for (const ch of c.choices) {
      const d = ch.delta;
      assert.ok(d, "every streamed choice carries a delta");
      if (d.role === Role.ASSISTANT) roleChunks++;
      text += d.content;
      for (const t of d.toolCalls) {
        const cur = calls.get(t.index) ?? { id: "", type: "", name: "", arguments: "" };
        if (t.id) cur.id = t.id;
        if (t.type) cur.type = t.type;
        if (t.name) cur.name = t.name;
        cur.arguments += t.arguments;
        calls.set(t.index, cur);
      }
      if (ch.finishReason) finish = ch.finishReason;
    }
    if (c.usage) usage = c.usage;
  }
  const callList = [...calls.entries()].sort(([a], [b]) => a - b).map(([i, c]): [number, string, string, string] => [i, c.id, c.name, c.arguments]);
  return { chunks, text, content: text, roleChunks, calls, callList, finish, usage, last: chunks[chunks.length - 1]! };
}

/** A unified chat request: a system message and a user message (`user`), plus what the case adds. */
export function chatRequest(init: Partial<MessageInitShape<typeof ChatRequestSchema>> = {}, user = "hello there") {
  return create(ChatRequestSchema, {
    model: "alias",
    messages: [
      { role: Role.SYSTEM, content: "Be brief." },
      { role: Role.USER, content: user },
    ],
    ...init,
  } as MessageInitShape<typeof ChatRequestSchema>);
}

const CITY = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
/** The tools the cases offer: get_weather, then get_time. */
export const TOOLS = [
  { type: "function", function: { name: "get_weather", description: "Weather of a city", parameters: CITY } },
  { type: "function", function: { name: "get_time", description: "Time in a city", parameters: CITY } },
] as const;

/** Assert a ProviderError of the given kind, code, retryability and HTTP status. */
export function assertProviderError(err: unknown, kind: string, code: string, retryable: boolean, status?: number): true {
  assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  assert.equal(err.details.code, code, err.message);
  assert.equal(err.retryable, retryable);
  if (status !== undefined) assert.equal(err.status, status);
  return true;
}

/** Expect `p` to reject with a ProviderError, then run the test's own checks on it. */
export async function rejectsWith(p: Promise<unknown>, check: (e: ProviderError) => void): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ProviderError, `a ProviderError, got ${String(err)}`);
    check(err);
    return true;
  });
}

/** `bytes` cut into reads of `size` bytes (the last one shorter), as they might arrive. */
export function slices(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.slice(i, i + size));
  return out;
}

/**
 * Parse SSE bytes, given as the reads they arrive in, through the parser the adapters use;
 * each event's data is parsed as JSON.
 */
export async function sseEvents<T>(pieces: Iterable<Uint8Array>): Promise<{ event: string; data: T }[]> {
  async function* body() {
    yield* pieces;
  }
  const out: { event: string; data: T }[] = [];
  for await (const ev of parseSse(body())) out.push({ event: ev.event, data: JSON.parse(ev.data) as T });
  return out;
}

/**
 * Read a stream that must fail part-way: run the checks on its ProviderError and return the
 * chunks delivered before the failure.
 */
export async function collectUntilFailure(it: AsyncIterable<ChatChunk>, check: (e: ProviderError) => void): Promise<ChatChunk[]> {
  const got: ChatChunk[] = [];
  await rejectsWith(
    (async () => {
      for await (const c of it) got.push(c);
    })(),
    check,
  );
  return got;
}

/** One row of a provider's error table: the fake's mode and the ProviderError it must become. */
export interface ErrorCase<Mode extends string = string> {
  mode: Mode;
  kind: string;
  retryable: boolean;
  code: string;
  status: number;
  /** The wait the error carries; a row without one expects none. */
  retryAfterS?: number;
  /** What the message must say. */
  message?: RegExp;
}

/**
 * Register one test per row: with the fake in the row's mode, a chat call (`call`) fails with a
 * ProviderError of exactly that kind, retryability, code, status and wait.
 */
export function chatErrorTable<Mode extends string>(env: FakeAdapter<ProviderFake<Mode>, ProviderAdapter>, cases: readonly ErrorCase<Mode>[], call: (adapter: ProviderAdapter) => Promise<unknown>): void {
  for (const e of cases)
    test(`chat ${e.mode} → ${e.kind} (retryable ${e.retryable}, code ${e.code})`, async () => {
      env.fake.mode = e.mode;
      await rejectsWith(call(env.adapter), (err) => {
        assert.equal(err.kind, e.kind);
        assert.equal(err.retryable, e.retryable);
        assert.equal(err.details.code, e.code);
        assert.equal(err.status, e.status);
        assert.equal(err.details.retryAfterS, e.retryAfterS);
        if (e.message) assert.match(err.message, e.message);
      });
    });
}
