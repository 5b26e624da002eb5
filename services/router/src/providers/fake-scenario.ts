/**
 * What every provider fake answers, whatever its wire format. Each fake reads its provider's
 * request into a {@link ScenarioInput}, asks {@link scenarioAnswer}, and writes the answer in
 * the provider's documented format. The conformance matrix checks translated results against
 * the same answers, so a fake and a check can never disagree about the expected content.
 */

/** How a fake answers the next calls (fakes may know more modes of their own). */
export type FakeMode = "ok" | "error_429" | "error_500" | "error_400" | "error_401" | "garbage" | "cut_stream" | "slow";

/** The parts of a provider request the answer depends on. */
export interface ScenarioInput {
  /** Text of the last user message (text parts joined). */
  lastUserText: string;
  /** Content of the tool result when the conversation's last message is one, as text. */
  lastToolResult?: string | undefined;
  /** The names of the tools offered, in order. */
  toolNames: string[];
  /** False when the caller disabled parallel tool calls. */
  parallelToolCalls: boolean;
}

/** One tool call the fake makes. */
export interface ScenarioToolCall {
  name: string;
  /** JSON text of the arguments. */
  arguments: string;
}

/** The fake's answer. */
export type ScenarioAnswer = { kind: "text"; text: string } | { kind: "tools"; calls: ScenarioToolCall[] };

/** Arguments of the first and second tool calls. */
export const SCENARIO_TOOL_ARGS = ['{"city":"Paris"}', '{"city":"Rome"}'] as const;

/**
 * Token counts every fake reports (in the provider's fields): prompt includes cached, and
 * completion includes reasoning, as OpenAI counts them. Providers without a cached or
 * reasoning field report only what they have.
 */
export const SCENARIO_USAGE = { prompt: 21, completion: 9, cached: 5, reasoning: 3 } as const;

/**
 * The answer: a tool result is acknowledged ("Tool said: <result>"); with tools offered, a
 * call of the first tool, or of the first two when there are two or more and parallel calls
 * are allowed; "Reverse: <text>" answers the text reversed; otherwise "Echo: <last user text>".
 */
export function scenarioAnswer(input: ScenarioInput): ScenarioAnswer {
  if (input.lastToolResult !== undefined) return { kind: "text", text: `Tool said: ${input.lastToolResult}` };
  if (input.toolNames.length > 0) {
    const n = input.toolNames.length >= 2 && input.parallelToolCalls ? 2 : 1;
    return { kind: "tools", calls: input.toolNames.slice(0, n).map((name, i) => ({ name, arguments: SCENARIO_TOOL_ARGS[i]! })) };
  }
  // "Reverse: <text>" answers the text reversed: a way to make the model say something (an
  // e-mail address, say) that was never in the prompt, for the answer side of redaction.
  if (input.lastUserText.startsWith("Reverse: ")) return { kind: "text", text: [...input.lastUserText.slice(9)].reverse().join("") };
  return { kind: "text", text: `Echo: ${input.lastUserText}` };
}

/** Split text into stream pieces: words with their trailing spaces. */
export function scenarioTextPieces(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [text];
}

/** Split JSON argument text into three fragments, as providers stream them. */
export function scenarioArgFragments(args: string): string[] {
  const a = Math.floor(args.length / 3);
  const b = Math.floor((2 * args.length) / 3);
  return [args.slice(0, a), args.slice(a, b), args.slice(b)];
}

/** A recorded upstream request. */
export interface RecordedCall {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/**
 * What every provider fake exports from its `fake.ts` (as `startFake<Provider>()`): the base
 * URL to configure, the recorded requests, and the mode of the next answers.
 */
export interface ProviderFake<Mode extends string = FakeMode> {
  /** The base_url to put in the provider's configuration. */
  url: string;
  calls: RecordedCall[];
  mode: Mode;
  close(): Promise<void>;
}
