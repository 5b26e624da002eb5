import type { FakeMode, ProviderFake, RecordedCall } from "../fake-scenario.js";
import { startFakeFamily } from "./fake-family.js";

export type { FakeMode } from "../fake-scenario.js";

/** A recorded upstream request. */
export type FakeCall = RecordedCall;

/** A running fake OpenAI server; `url` is the base_url to configure (`…/v1`). */
export type FakeOpenAI = ProviderFake<FakeMode>;

/** The key the fake accepts (the one the test configurations send); others get OpenAI's 401. */
export const FAKE_OPENAI_KEY = "sk-fake-upstream-secret";

/** Options for {@link startFakeOpenAI}. */
export interface FakeOpenAIOptions {
  /**
   * Keep every request in `calls` (default true). `record: false` is the load-generator mode
   * (the benchmark): nothing is kept and, unless `apiKeys` says otherwise, any key is
   * accepted, since load tools call the fake directly without one.
   */
  record?: boolean;
  /** Keys accepted; "any" accepts every request. Default [FAKE_OPENAI_KEY] (any when record is false). */
  apiKeys?: readonly string[] | "any";
  /** How long mode "slow" waits before answering (default 1000 ms). */
  slowMs?: number;
}

/**
 * A local stand-in for api.openai.com's POST /v1/chat/completions and /v1/embeddings, in the
 * documented wire format: a `chat.completion` object, or `chat.completion.chunk` SSE events
 * (role first, content deltas, tool call fragments, a finish chunk, a usage chunk with empty
 * choices when stream_options.include_usage is set, then `data: [DONE]`), embeddings lists,
 * and OpenAI's error JSON. Answers follow the shared scenario (fake-scenario.ts): "Echo:
 * <last user text>", calls of the offered tools (two in parallel when allowed), "Tool said:
 * <result>" after a tool result, with SCENARIO_USAGE. Like OpenAI it refuses a missing or
 * wrong Bearer key (401), `parallel_tool_calls` without tools and `max_tokens` on o-series
 * models (400). Records every request. Loopback only.
 */
export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const record = opts.record ?? true;
  const fake = await startFakeFamily({
    flavour: "openai",
    record,
    apiKeys: opts.apiKeys ?? (record ? [FAKE_OPENAI_KEY] : "any"),
    ...(opts.slowMs !== undefined && { slowMs: opts.slowMs }),
  });
  // The family fake's modes include Azure's; OpenAI's fake answers only the shared ones.
  return fake as FakeOpenAI;
}
