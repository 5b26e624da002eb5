import { test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, EmbedRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { DEFAULT_EMBED_INPUT_TYPE, embedToCohere, requestToCohere } from "./unified-to-cohere.js";

type Init = MessageInitShape<typeof ChatRequestSchema>;
const M = "command-a-03-2025";

/** The OpenAPI "Tools" example's two functions (cohere-openapi.yaml, /v2/chat). */
const salesTool = {
  type: "function",
  function: {
    name: "query_daily_sales_report",
    description: "Connects to a database to retrieve overall sales volumes and sales information for a given day.",
    parameters: { type: "object", properties: { day: { description: "Retrieves sales data for this day, formatted as YYYY-MM-DD.", type: "string" } }, required: ["day"] },
  },
};
const catalogTool = {
  type: "function",
  function: {
    name: "query_product_catalog",
    description: "Connects to a a product catalog with information about all the products being sold, including categories, prices, and stock levels.",
    parameters: { type: "object", properties: { category: { description: "Retrieves product information data for all products in this category.", type: "string" } }, required: ["category"] },
  },
};
const cohereSales = { type: "function", function: { name: salesTool.function.name, description: salesTool.function.description, parameters: salesTool.function.parameters } };
const cohereCatalog = { type: "function", function: { name: catalogTool.function.name, description: catalogTool.function.description, parameters: catalogTool.function.parameters } };
const user = (content: string) => ({ role: Role.USER, content });

interface OkCase {
  name: string;
  req: Init;
  stream?: boolean;
  /** The whole Cohere body, compared with deepEqual. */
  want: Record<string, unknown>;
}

const ok: OkCase[] = [
  {
    name: "a plain user message: model, messages and stream false, nothing else",
    req: { messages: [user("Tell me about LLMs")] },
    want: { model: M, messages: [{ role: "user", content: "Tell me about LLMs" }], stream: false },
  },
  {
    name: "stream true is sent as stream: true",
    req: { messages: [user("Hello!")] },
    stream: true,
    want: { model: M, messages: [{ role: "user", content: "Hello!" }], stream: true },
  },
  {
    name: "parameters: max_tokens, temperature, top_p → p, stop → stop_sequences, seed, penalties",
    req: { messages: [user("x")], maxTokens: 256, temperature: 0.3, topP: 0.75, stop: ["END", "STOP"], seed: 42n, frequencyPenalty: 0.1, presencePenalty: 0.2 },
    want: { model: M, messages: [{ role: "user", content: "x" }], stream: false, max_tokens: 256, temperature: 0.3, p: 0.75, stop_sequences: ["END", "STOP"], seed: 42, frequency_penalty: 0.1, presence_penalty: 0.2 },
  },
  {
    name: "system and developer messages are joined into one leading system message",
    req: {
      messages: [
        { role: Role.SYSTEM, content: "Be brief." },
        user("Hi"),
        { role: Role.DEVELOPER, parts: [{ part: { case: "text", value: "Answer in French." } }] },
      ],
    },
    want: { model: M, messages: [{ role: "system", content: "Be brief.\n\nAnswer in French." }, { role: "user", content: "Hi" }], stream: false },
  },
  {
    name: "a multi-turn conversation keeps user/assistant order; assistant text is content",
    req: {
      messages: [user("Who discovered gravity?"), { role: Role.ASSISTANT, content: "The man who is widely credited with discovering gravity is Sir Isaac Newton" }, user("What year was he born?")],
    },
    want: {
      model: M,
      messages: [
        { role: "user", content: "Who discovered gravity?" },
        { role: "assistant", content: "The man who is widely credited with discovering gravity is Sir Isaac Newton" },
        { role: "user", content: "What year was he born?" },
      ],
      stream: false,
    },
  },
  {
    name: "user parts become text and image_url blocks (web URL with detail, data: URI without); empty text is dropped",
    req: {
      messages: [
        {
          role: Role.USER,
          parts: [
            { part: { case: "text", value: "Describe this image" } },
            { part: { case: "text", value: "" } },
            { part: { case: "imageUrl", value: { url: "https://cohere.com/favicon-32x32.png", detail: "auto" } } },
            { part: { case: "imageUrl", value: { url: "data:image/png;base64,iVBORw0KGgo=" } } },
          ],
        },
      ],
    },
    want: {
      model: M,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Describe this image" },
            { type: "image_url", image_url: { url: "https://cohere.com/favicon-32x32.png", detail: "auto" } },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
          ],
        },
      ],
      stream: false,
    },
  },
  {
    name: "tools become Cohere function tools; tool_choice auto is omitted",
    req: { messages: [user("sales?")], tools: [salesTool, catalogTool], toolChoice: { choice: { case: "mode", value: "auto" } } },
    want: { model: M, messages: [{ role: "user", content: "sales?" }], stream: false, tools: [cohereSales, cohereCatalog] },
  },
  {
    name: "a function without parameters gets an empty object schema; no description, no field",
    req: { messages: [user("time?")], tools: [{ type: "function", function: { name: "currentTime" } }] },
    want: { model: M, messages: [{ role: "user", content: "time?" }], stream: false, tools: [{ type: "function", function: { name: "currentTime", parameters: { type: "object", properties: {} } } }] },
  },
  {
    name: "tool_choice required → REQUIRED",
    req: { messages: [user("x")], tools: [salesTool], toolChoice: { choice: { case: "mode", value: "required" } } },
    want: { model: M, messages: [{ role: "user", content: "x" }], stream: false, tools: [cohereSales], tool_choice: "REQUIRED" },
  },
  {
    name: "tool_choice none → NONE",
    req: { messages: [user("x")], tools: [salesTool], toolChoice: { choice: { case: "mode", value: "none" } } },
    want: { model: M, messages: [{ role: "user", content: "x" }], stream: false, tools: [cohereSales], tool_choice: "NONE" },
  },
  {
    name: "a named function is approximated: only that tool offered, with REQUIRED",
    req: { messages: [user("x")], tools: [salesTool, catalogTool], toolChoice: { choice: { case: "functionName", value: "query_product_catalog" } } },
    want: { model: M, messages: [{ role: "user", content: "x" }], stream: false, tools: [cohereCatalog], tool_choice: "REQUIRED" },
  },
  {
    name: "tool_choice without tools sends nothing",
    req: { messages: [user("x")], toolChoice: { choice: { case: "mode", value: "required" } } },
    want: { model: M, messages: [{ role: "user", content: "x" }], stream: false },
  },
  {
    name: "a strict function turns on strict_tools for the request",
    req: { messages: [user("x")], tools: [{ ...salesTool, function: { ...salesTool.function, strict: true } }, catalogTool] },
    want: { model: M, messages: [{ role: "user", content: "x" }], stream: false, tools: [cohereSales, cohereCatalog], strict_tools: true },
  },
  {
    name: "parallel_tool_calls=false has no Cohere field and sends nothing",
    req: { messages: [user("x")], tools: [salesTool, catalogTool], parallelToolCalls: false },
    want: { model: M, messages: [{ role: "user", content: "x" }], stream: false, tools: [cohereSales, cohereCatalog] },
  },
  {
    name: "tool round trip: assistant tool calls keep ids and argument text, text becomes tool_plan, results are tool messages",
    req: {
      messages: [
        user("Can you provide a sales summary for 29th September 2023?"),
        {
          role: Role.ASSISTANT,
          content: "I will first find the sales summary for 29th September 2023.",
          toolCalls: [
            { id: "query_daily_sales_report_hgxxmkby3wta", type: "function", function: { name: "query_daily_sales_report", arguments: '{"day": "2023-09-29"}' } },
            { id: "currentTime_tf4dywn8wgnk", type: "function", function: { name: "currentTime", arguments: "" } },
          ],
        },
        { role: Role.TOOL, toolCallId: "query_daily_sales_report_hgxxmkby3wta", content: '{"total_revenue": 65000}' },
        { role: Role.TOOL, toolCallId: "currentTime_tf4dywn8wgnk", parts: [{ part: { case: "text", value: "12:00" } }] },
      ],
      tools: [salesTool],
    },
    want: {
      model: M,
      messages: [
        { role: "user", content: "Can you provide a sales summary for 29th September 2023?" },
        {
          role: "assistant",
          tool_plan: "I will first find the sales summary for 29th September 2023.",
          tool_calls: [
            { id: "query_daily_sales_report_hgxxmkby3wta", type: "function", function: { name: "query_daily_sales_report", arguments: '{"day": "2023-09-29"}' } },
            { id: "currentTime_tf4dywn8wgnk", type: "function", function: { name: "currentTime", arguments: "{}" } },
          ],
        },
        { role: "tool", tool_call_id: "query_daily_sales_report_hgxxmkby3wta", content: '{"total_revenue": 65000}' },
        { role: "tool", tool_call_id: "currentTime_tf4dywn8wgnk", content: "12:00" },
      ],
      stream: false,
      tools: [cohereSales],
    },
  },
  {
    name: "an assistant turn with tool calls and no text has no tool_plan; an empty assistant turn is dropped",
    req: {
      messages: [
        user("x"),
        { role: Role.ASSISTANT, content: "" },
        { role: Role.ASSISTANT, toolCalls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] },
        { role: Role.TOOL, toolCallId: "c1", content: "done" },
      ],
    },
    want: {
      model: M,
      messages: [
        { role: "user", content: "x" },
        { role: "assistant", tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "c1", content: "done" },
      ],
      stream: false,
    },
  },
  {
    name: "response_format json_object → json_object",
    req: { messages: [user("Generate a JSON")], responseFormat: { type: "json_object" } },
    want: { model: M, messages: [{ role: "user", content: "Generate a JSON" }], stream: false, response_format: { type: "json_object" } },
  },
  {
    name: "response_format json_schema → json_object with the schema as json_schema (name and strict dropped)",
    req: {
      messages: [user("Generate a JSON describing a person")],
      responseFormat: { type: "json_schema", schemaName: "person", strict: true, schema: { type: "object", properties: { name: { type: "string" }, age: { type: "integer" } }, required: ["name", "age"] } },
    },
    want: {
      model: M,
      messages: [{ role: "user", content: "Generate a JSON describing a person" }],
      stream: false,
      response_format: { type: "json_object", json_schema: { type: "object", properties: { name: { type: "string" }, age: { type: "integer" } }, required: ["name", "age"] } },
    },
  },
  {
    name: "response_format text is the default and sends nothing; user and reasoning_effort are not forwarded",
    req: { messages: [user("x")], responseFormat: { type: "text" }, user: "end-user-7", reasoningEffort: "high", metadata: { team: "a" } },
    want: { model: M, messages: [{ role: "user", content: "x" }], stream: false },
  },
  {
    name: "an unspecified role is treated as user",
    req: { messages: [{ role: Role.UNSPECIFIED, content: "hi" }] },
    want: { model: M, messages: [{ role: "user", content: "hi" }], stream: false },
  },
];

for (const c of ok)
  test(`request: ${c.name}`, () => {
    assert.deepEqual(requestToCohere(create(ChatRequestSchema, c.req), M, c.stream ?? false), c.want);
  });

interface ErrCase {
  name: string;
  req: Init;
  param: string;
  message: RegExp;
}

const bad: ErrCase[] = [
  { name: "n > 1", req: { messages: [user("x")], n: 2 }, param: "n", message: /one choice per call/ },
  { name: "an image in a system message", req: { messages: [{ role: Role.SYSTEM, parts: [{ part: { case: "imageUrl", value: { url: "https://x/y.png" } } }] }] }, param: "messages[0].content[0]", message: /only allowed in user messages/ },
  { name: "an image URL that is not http(s) or data:", req: { messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "ftp://x/y.png" } } }] }] }, param: "messages[0].content[0].image_url.url", message: /http\(s\) URL or a data: URI/ },
  { name: "a data: URI that is not base64", req: { messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "data:image/png,abc" } } }] }] }, param: "messages[0].content[0].image_url.url", message: /base64/ },
  { name: "an unknown image detail", req: { messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "https://x/y.png", detail: "max" } } }] }] }, param: "messages[0].content[0].image_url.detail", message: /auto, low, high/ },
  { name: "a tool message without tool_call_id", req: { messages: [user("x"), { role: Role.TOOL, content: "r" }] }, param: "messages[1].tool_call_id", message: /without tool_call_id/ },
  { name: "a tool call without id", req: { messages: [{ role: Role.ASSISTANT, toolCalls: [{ type: "function", function: { name: "f", arguments: "{}" } }] }] }, param: "messages[0].tool_calls[0].id", message: /no id/ },
  { name: "a tool without a name", req: { messages: [user("x")], tools: [{ type: "function", function: { name: "" } }] }, param: "tools[0].function.name", message: /no function name/ },
  { name: "tool_choice naming a function that is not offered", req: { messages: [user("x")], tools: [salesTool], toolChoice: { choice: { case: "functionName", value: "nope" } } }, param: "tool_choice", message: /not among the tools/ },
  { name: "an unknown tool_choice mode", req: { messages: [user("x")], tools: [salesTool], toolChoice: { choice: { case: "mode", value: "any" } } }, param: "tool_choice", message: /none, auto, required/ },
  { name: "json_schema without a schema", req: { messages: [user("x")], responseFormat: { type: "json_schema", schemaName: "s" } }, param: "response_format.json_schema.schema", message: /needs a schema/ },
  { name: "an unknown response_format type", req: { messages: [user("x")], responseFormat: { type: "yaml" } }, param: "response_format.type", message: /text, json_object, json_schema/ },
];

for (const c of bad)
  test(`request rejected before any call: ${c.name}`, () => {
    assert.throws(
      () => requestToCohere(create(ChatRequestSchema, c.req), M, false),
      (err: unknown) => {
        assert.ok(err instanceof TesseraError);
        assert.equal(err.kind, "invalid_request");
        assert.equal(err.details.param, c.param);
        assert.match(err.message, c.message);
        return true;
      },
    );
  });

test("embed: texts in order, float vectors, explicit END truncation; empty input_type defaults to search_document", () => {
  const body = embedToCohere(create(EmbedRequestSchema, { model: "alias", input: ["hello", "goodbye"] }), "embed-v4.0");
  assert.equal(DEFAULT_EMBED_INPUT_TYPE, "search_document");
  assert.deepEqual(body, { model: "embed-v4.0", texts: ["hello", "goodbye"], input_type: "search_document", embedding_types: ["float"], truncate: "END" });
});

test("embed: input_type passes through and dimensions become output_dimension; user is not forwarded", () => {
  const body = embedToCohere(create(EmbedRequestSchema, { input: ["q"], inputType: "search_query", dimensions: 1024, user: "u1" }), "embed-v4.0");
  assert.deepEqual(body, { model: "embed-v4.0", texts: ["q"], input_type: "search_query", embedding_types: ["float"], truncate: "END", output_dimension: 1024 });
});

for (const inputType of ["classification", "clustering"])
  test(`embed: input_type ${inputType} passes through`, () => {
    assert.equal(embedToCohere(create(EmbedRequestSchema, { input: ["t"], inputType }), "m").input_type, inputType);
  });

test("embed: an unknown input_type and an empty input are invalid requests", () => {
  const cases: [MessageInitShape<typeof EmbedRequestSchema>, string][] = [
    [{ input: ["t"], inputType: "image" }, "input_type"],
    [{ input: [] }, "input"],
  ];
  for (const [init, param] of cases) {
    assert.throws(
      () => embedToCohere(create(EmbedRequestSchema, init), "m"),
      (err: unknown) => err instanceof TesseraError && err.kind === "invalid_request" && err.details.param === param,
    );
  }
});
