import { SCENARIO_USAGE, scenarioAnswer, type ScenarioAnswer } from "../../services/router/src/providers/fake-scenario.js";

/**
 * The scenarios of the conformance matrix: what a caller asks, written once here and by each
 * surface driver in its own format. The expected answers come from the same module the
 * provider fakes answer from (fake-scenario.ts), so a check and a fake cannot disagree.
 */

/** One column group of the matrix. */
export type Scenario = "text" | "tool" | "parallel" | "parallel_off" | "tool_result" | "error_429" | "error_400";

/** Plain (one JSON answer) or streamed. */
export type Mode = "plain" | "stream";

export const MODES: readonly Mode[] = ["plain", "stream"];

/** The scenarios in column order, with their labels in the report. */
export const SCENARIOS: readonly { id: Scenario; short: string; what: string }[] = [
  { id: "text", short: "text", what: "no tools: the answer is text" },
  { id: "tool", short: "tool", what: "one tool offered: one tool call" },
  { id: "parallel", short: "par", what: "two tools offered: two parallel calls, in order" },
  { id: "parallel_off", short: "par-off", what: "two tools, parallel calls disabled by the caller: one call" },
  { id: "tool_result", short: "result", what: "the results of two earlier calls sent back: the answer acknowledges the last" },
  { id: "error_429", short: "429", what: "the provider answers 429: a rate-limit error in the surface's format" },
  { id: "error_400", short: "400", what: "the provider answers 400: an invalid-request error in the surface's format" },
];

/** A function tool the matrix offers, as JSON Schema (surfaces rewrite it in their own format). */
export interface ToolDef {
  name: string;
  description: string;
  parameters: { type: "object"; properties: { city: { type: "string"; description: string } }; required: ["city"] };
}

const tool = (name: string, description: string): ToolDef => ({
  name,
  description,
  parameters: { type: "object", properties: { city: { type: "string", description: "City name" } }, required: ["city"] },
});

/** The tools, in the order offered; the fakes call the first one, or the first two. */
export const TOOLS: readonly ToolDef[] = [tool("get_weather", "Current weather of a city"), tool("get_time", "Local time of a city")];

/** An earlier assistant turn with tool calls, and the results the caller sends back. */
export interface History {
  calls: { name: string; args: Record<string, unknown> }[];
  /** One result per call, as JSON objects (so every surface can carry them unchanged). */
  results: Record<string, unknown>[];
}

/** The abstract conversation of one cell. */
export interface Conversation {
  /** Unique per cell, so the cell's upstream request can be found among the fake's records. */
  userText: string;
  tools: readonly ToolDef[];
  /** The caller forbids parallel tool calls. */
  parallelOff: boolean;
  history?: History;
}

/** The conversation a scenario sends; `tag` makes it unique. */
export function conversation(scenario: Scenario, tag: string): Conversation {
  const userText = `hello from ${tag}`;
  switch (scenario) {
    case "tool":
      return { userText, tools: TOOLS.slice(0, 1), parallelOff: false };
    case "parallel":
      return { userText, tools: TOOLS, parallelOff: false };
    case "parallel_off":
      return { userText, tools: TOOLS, parallelOff: true };
    case "tool_result":
      return {
        userText,
        tools: TOOLS,
        parallelOff: false,
        history: {
          calls: [
            { name: "get_weather", args: { city: "Paris" } },
            { name: "get_time", args: { city: "Rome" } },
          ],
          results: [{ temp: 21 }, { time: "10:30" }],
        },
      };
    default:
      return { userText, tools: [], parallelOff: false };
  }
}

/** What the fakes answer to this conversation (per fake-scenario.ts). */
export function expectedAnswer(c: Conversation): ScenarioAnswer {
  const results = c.history?.results;
  return scenarioAnswer({
    lastUserText: c.userText,
    lastToolResult: results ? JSON.stringify(results[results.length - 1]) : undefined,
    toolNames: c.tools.map((t) => t.name),
    parallelToolCalls: !c.parallelOff,
  });
}

/** Token counts in the unified vocabulary (prompt includes cached; completion includes reasoning). */
export interface UnifiedUsage {
  prompt: number;
  completion: number;
  total: number;
  cached: number;
  reasoning: number;
}

/** The usage a provider's fake reports, in unified terms: the cached and reasoning counts only where its API has the field. */
export function expectedUsage(caps: { cached: boolean; reasoning: boolean }): UnifiedUsage {
  return {
    prompt: SCENARIO_USAGE.prompt,
    completion: SCENARIO_USAGE.completion,
    total: SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion,
    cached: caps.cached ? SCENARIO_USAGE.cached : 0,
    reasoning: caps.reasoning ? SCENARIO_USAGE.reasoning : 0,
  };
}
