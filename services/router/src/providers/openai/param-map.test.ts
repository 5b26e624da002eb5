import { test } from "node:test";
import assert from "node:assert/strict";
import { TesseraError } from "@tessera/runtime";
import { applyParamMap, FAMILY_CHAT_PARAMS, type ParamMap } from "./param-map.js";
import { OPENAI_CHAT_PARAMS, OPENAI_EMBED_PARAMS } from "./adapter.js";
import { AZURE_CHAT_PARAMS, AZURE_EMBED_PARAMS } from "../azure/adapter.js";
import { MISTRAL_CHAT_PARAMS, MISTRAL_EMBED_PARAMS, mistralToolCallId } from "../mistral/adapter.js";
import { OPENAI_COMPATIBLE_CHAT_PARAMS, OPENAI_COMPATIBLE_EMBED_PARAMS } from "../openai-compatible/adapter.js";

const ctx = { provider: "prov" };

const generic: [string, ParamMap, Record<string, unknown>, Record<string, unknown>][] = [
  ["renames", { seed: { param: "random_seed", why: "" } }, { seed: 7, model: "m" }, { model: "m", random_seed: 7 }],
  ["drops", { user: { drop: true, why: "" } }, { user: "u", model: "m" }, { model: "m" }],
  ["fills a default when absent", { safe_prompt: { default: false, why: "" } }, { model: "m" }, { model: "m", safe_prompt: false }],
  ["keeps the caller's value over the default", { safe_prompt: { default: false, why: "" } }, { safe_prompt: true }, { safe_prompt: true }],
  ["clamps above max", { temperature: { min: 0, max: 1, why: "" } }, { temperature: 1.5 }, { temperature: 1 }],
  ["clamps below min", { top_k: { min: 1, why: "" } }, { top_k: 0 }, { top_k: 1 }],
  ["leaves in-range values", { temperature: { min: 0, max: 1, why: "" } }, { temperature: 0.4 }, { temperature: 0.4 }],
  ["transforms", { tool_choice: { transform: (v) => (v === "required" ? "any" : v), why: "" } }, { tool_choice: "required" }, { tool_choice: "any" }],
  ["drops when the transform says undefined", { n: { transform: () => undefined, why: "" } }, { n: 1, a: 1 }, { a: 1 }],
  ["bounds, transforms, then renames", { dimensions: { max: 10, transform: (v) => Number(v) * 2, param: "output_dimension", why: "" } }, { dimensions: 99 }, { output_dimension: 20 }],
  ["passes what the map does not name", {}, { model: "m", messages: [], x: { y: 1 } }, { model: "m", messages: [], x: { y: 1 } }],
  ["ignores absent parameters", { user: { drop: true, why: "" }, seed: { param: "random_seed", why: "" } }, { model: "m" }, { model: "m" }],
];
for (const [name, map, input, expected] of generic) {
  test(`applyParamMap ${name}`, () => {
    const before = structuredClone(input);
    assert.deepEqual(applyParamMap(input, map, ctx), expected);
    assert.deepEqual(input, before, "the input body is not modified");
  });
}

test("applyParamMap refuses an out-of-range value of a strict rule with a 400 naming the parameter", () => {
  assert.throws(
    () => applyParamMap({ n: 4 }, { n: { max: 1, strict: true, why: "" } }, ctx),
    (err: unknown) => err instanceof TesseraError && err.status === 400 && err.details.param === "n" && err.details.code === "unsupported_value" && err.message === "Invalid value for 'n': prov accepts at most 1, but got 4.",
  );
  assert.throws(() => applyParamMap({ t: -1 }, { t: { min: 0, max: 2, strict: true, why: "" } }, ctx), /prov accepts between 0 and 2, but got -1/);
});

test("a transform sees the whole body and the api-version", () => {
  const seen: unknown[] = [];
  applyParamMap({ a: 1, b: 2 }, { a: { transform: (v, c) => (seen.push(c.body["b"], c.apiVersion, c.provider), v), why: "" } }, { provider: "p", apiVersion: "2024-10-21" });
  assert.deepEqual(seen, [2, "2024-10-21", "p"]);
});

const tools = [{ type: "function", function: { name: "f" } }];
const msgs = (...m: Record<string, unknown>[]) => m;

/** [provider map, description, body, api-version, expected body] */
const providerCases: [string, ParamMap, string, Record<string, unknown>, string | undefined, Record<string, unknown>][] = [
  ["family", FAMILY_CHAT_PARAMS, "parallel_tool_calls without tools is left out", { parallel_tool_calls: false }, undefined, {}],
  ["family", FAMILY_CHAT_PARAMS, "parallel_tool_calls with tools is kept", { tools, parallel_tool_calls: false }, undefined, { tools, parallel_tool_calls: false }],
  ["openai", OPENAI_CHAT_PARAMS, "max_tokens becomes max_completion_tokens", { model: "o3", max_tokens: 100 }, undefined, { model: "o3", max_completion_tokens: 100 }],
  ["openai", OPENAI_CHAT_PARAMS, "everything else passes", { model: "m", seed: 1, user: "u", n: 2, stream_options: { include_usage: true } }, undefined, { model: "m", seed: 1, user: "u", n: 2, stream_options: { include_usage: true } }],
  ["openai", OPENAI_EMBED_PARAMS, "embeddings pass", { model: "m", input: ["a"], dimensions: 8, user: "u" }, undefined, { model: "m", input: ["a"], dimensions: 8, user: "u" }],
  ["azure", AZURE_CHAT_PARAMS, "model is left out (the deployment is in the path)", { model: "dep", max_tokens: 5 }, "2024-10-21", { max_tokens: 5 }],
  ["azure", AZURE_CHAT_PARAMS, "stream_options kept on 2024-10-21", { stream: true, stream_options: { include_usage: true } }, "2024-10-21", { stream: true, stream_options: { include_usage: true } }],
  ["azure", AZURE_CHAT_PARAMS, "stream_options kept on a later preview", { stream_options: { include_usage: true } }, "2025-01-01-preview", { stream_options: { include_usage: true } }],
  ["azure", AZURE_CHAT_PARAMS, "stream_options left out on 2024-06-01", { stream: true, stream_options: { include_usage: true } }, "2024-06-01", { stream: true }],
  ["azure", AZURE_CHAT_PARAMS, "stream_options left out on 2024-08-01-preview", { stream_options: { include_usage: true } }, "2024-08-01-preview", {}],
  ["azure", AZURE_EMBED_PARAMS, "embeddings without model", { model: "dep", input: ["a"], dimensions: 8 }, "2024-10-21", { input: ["a"], dimensions: 8 }],
  ["mistral", MISTRAL_CHAT_PARAMS, "seed becomes random_seed", { seed: 42 }, undefined, { random_seed: 42 }],
  ["mistral", MISTRAL_CHAT_PARAMS, "tool_choice required becomes any", { tools, tool_choice: "required" }, undefined, { tools, tool_choice: "any" }],
  ["mistral", MISTRAL_CHAT_PARAMS, "tool_choice none stays", { tool_choice: "none" }, undefined, { tool_choice: "none" }],
  ["mistral", MISTRAL_CHAT_PARAMS, "user and stream_options are left out", { user: "u", stream: true, stream_options: { include_usage: true } }, undefined, { stream: true }],
  [
    "mistral",
    MISTRAL_CHAT_PARAMS,
    "developer → system, names only on tool messages, valid tool ids unchanged",
    { messages: msgs({ role: "developer", content: "d" }, { role: "user", content: "u", name: "ann" }, { role: "assistant", content: null, tool_calls: [{ id: "gSIMJiOkT", type: "function", function: { name: "f", arguments: "{}" } }] }, { role: "tool", tool_call_id: "gSIMJiOkT", name: "f", content: "r" }) },
    undefined,
    { messages: msgs({ role: "system", content: "d" }, { role: "user", content: "u" }, { role: "assistant", content: null, tool_calls: [{ id: "gSIMJiOkT", type: "function", function: { name: "f", arguments: "{}" } }] }, { role: "tool", tool_call_id: "gSIMJiOkT", name: "f", content: "r" }) },
  ],
  ["mistral", MISTRAL_EMBED_PARAMS, "dimensions becomes output_dimension, user is left out", { model: "codestral-embed", input: ["a"], dimensions: 256, user: "u" }, undefined, { model: "codestral-embed", input: ["a"], output_dimension: 256 }],
  ["openai_compatible", OPENAI_COMPATIBLE_CHAT_PARAMS, "user and n = 1 are left out", { user: "u", n: 1, seed: 3 }, undefined, { seed: 3 }],
  ["openai_compatible", OPENAI_COMPATIBLE_CHAT_PARAMS, "message names are left out", { messages: msgs({ role: "user", content: "a", name: "ann" }, { role: "assistant", content: "b" }) }, undefined, { messages: msgs({ role: "user", content: "a" }, { role: "assistant", content: "b" }) }],
  ["openai_compatible", OPENAI_COMPATIBLE_CHAT_PARAMS, "stream_options is kept (metering)", { stream: true, stream_options: { include_usage: true } }, undefined, { stream: true, stream_options: { include_usage: true } }],
  ["openai_compatible", OPENAI_COMPATIBLE_EMBED_PARAMS, "embeddings without user", { model: "bge", input: ["a"], user: "u" }, undefined, { model: "bge", input: ["a"] }],
];
for (const [provider, map, name, body, apiVersion, expected] of providerCases) {
  test(`${provider} map: ${name}`, () => {
    assert.deepEqual(applyParamMap(body, map, { provider, apiVersion }), expected);
  });
}

test("every rule of every provider map says why", () => {
  const maps = { OPENAI_CHAT_PARAMS, OPENAI_EMBED_PARAMS, AZURE_CHAT_PARAMS, AZURE_EMBED_PARAMS, MISTRAL_CHAT_PARAMS, MISTRAL_EMBED_PARAMS, OPENAI_COMPATIBLE_CHAT_PARAMS, OPENAI_COMPATIBLE_EMBED_PARAMS };
  for (const [mapName, map] of Object.entries(maps)) for (const [param, rule] of Object.entries(map)) assert.ok(rule.why.length > 20, `${mapName}.${param}`);
});

test("openai_compatible refuses n > 1 with a 400 naming n", () => {
  assert.throws(() => applyParamMap({ n: 2 }, OPENAI_COMPATIBLE_CHAT_PARAMS, { provider: "groq" }), /Invalid value for 'n': groq accepts at most 1, but got 2\./);
});

const idCases: [string, string][] = [
  ["gSIMJiOkT", "gSIMJiOkT"],
  ["abc123XYZ", "abc123XYZ"],
];
for (const [id, expected] of idCases) {
  test(`mistralToolCallId keeps Mistral's own id ${id}`, () => assert.equal(mistralToolCallId(id), expected));
}

test("mistralToolCallId maps foreign ids to 9 alphanumerics, the same every time, different per id", () => {
  const ids = ["call_abc123", "call_9ctHOJqO3bYrpm2A6S7nHd5k", "toolu_01A09q90qw90lq917835lq9", "abc12345", "abc-12345", ""];
  const mapped = ids.map(mistralToolCallId);
  for (const m of mapped) assert.match(m, /^[a-zA-Z0-9]{9}$/);
  assert.deepEqual(ids.map(mistralToolCallId), mapped);
  assert.equal(new Set(mapped).size, ids.length);
});

test("the Mistral map rewrites a foreign id identically on the call and on its result", () => {
  const out = applyParamMap(
    { messages: msgs({ role: "assistant", tool_calls: [{ id: "call_abc123", type: "function", function: { name: "f", arguments: "{}" } }] }, { role: "tool", tool_call_id: "call_abc123", content: "r" }) },
    MISTRAL_CHAT_PARAMS,
    { provider: "mistral" },
  );
  const [assistant, tool] = out["messages"] as { tool_calls?: { id: string }[]; tool_call_id?: string }[];
  assert.equal(assistant!.tool_calls![0]!.id, mistralToolCallId("call_abc123"));
  assert.equal(tool!.tool_call_id, mistralToolCallId("call_abc123"));
});
