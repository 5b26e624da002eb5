import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { EmbedRequestSchema, EmbedResponseSchema } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import {
  MAX_EMBEDDING_INPUTS,
  embedRequestToOpenAI,
  embedResponseFromOpenAI,
  embedResponseToOpenAI,
  parseOpenAIEmbeddingRequest,
  vectorFromBase64,
  vectorToBase64,
} from "./embeddings.js";

const ok = { model: "text-embedding-3-small", input: "The food was delicious and the waiter..." };

test("a single string parses into one input, vectors as floats by default", () => {
  const { request, encodingFormat } = parseOpenAIEmbeddingRequest(ok);
  assert.equal(encodingFormat, "float");
  assert.equal(request.model, "text-embedding-3-small");
  assert.deepEqual(request.input, ["The food was delicious and the waiter..."]);
  assert.equal(request.dimensions, 0);
  assert.equal(request.user, "");
  assert.equal(request.inputType, "");
});

test("an array of strings keeps its order; dimensions, user, base64 and input_type are read", () => {
  const { request, encodingFormat } = parseOpenAIEmbeddingRequest({
    model: "m",
    input: ["first", "second", "third"],
    dimensions: 256,
    encoding_format: "base64",
    user: "user-1234",
    input_type: "search_query",
  });
  assert.deepEqual(request.input, ["first", "second", "third"]);
  assert.equal(request.dimensions, 256);
  assert.equal(request.user, "user-1234");
  assert.equal(request.inputType, "search_query");
  assert.equal(encodingFormat, "base64");
});

test("exactly 2048 inputs are accepted", () => {
  const { request } = parseOpenAIEmbeddingRequest({ model: "m", input: Array.from({ length: MAX_EMBEDDING_INPUTS }, (_, i) => `t${i}`) });
  assert.equal(request.input.length, 2048);
  assert.equal(request.input[2047], "t2047");
});

const badCases: [string, unknown, string, string, RegExp][] = [
  ["body not an object", "hello", "", "invalid_value", /expected a JSON object, but got string/],
  ["unknown parameter", { ...ok, temperature: 1 }, "temperature", "unknown_parameter", /Unrecognized request argument supplied: temperature/],
  ["missing model", { input: "x" }, "model", "missing_required_parameter", /Missing required parameter: 'model'/],
  ["model of wrong type", { model: 3, input: "x" }, "model", "invalid_type", /expected a string, but got number/],
  ["empty model", { model: "", input: "x" }, "model", "invalid_value", /must not be empty/],
  ["missing input", { model: "m" }, "input", "missing_required_parameter", /Missing required parameter: 'input'/],
  ["null input", { model: "m", input: null }, "input", "missing_required_parameter", /Missing required parameter: 'input'/],
  ["input of wrong type", { model: "m", input: 42 }, "input", "invalid_type", /expected a string or an array of strings, but got number/],
  ["input an object", { model: "m", input: { text: "x" } }, "input", "invalid_type", /but got object/],
  ["empty string", { model: "m", input: "" }, "input", "empty_string", /empty string. Expected a string with minimum length 1/],
  ["empty array", { model: "m", input: [] }, "input", "empty_array", /empty array. Expected an array with minimum length 1/],
  ["an empty string in the array", { model: "m", input: ["a", ""] }, "input[1]", "empty_string", /Invalid 'input\[1\]': empty string/],
  ["a number among strings", { model: "m", input: ["a", 5] }, "input[1]", "invalid_type", /Invalid type for 'input\[1\]': expected a string, but got number/],
  ["token ids", { model: "m", input: [1212, 318, 257] }, "input", "unsupported_input", /token-id arrays are not supported.*send the text as a string or an array of strings/],
  ["arrays of token ids", { model: "m", input: [[1212, 318], [257]] }, "input", "unsupported_input", /cannot turn token ids back into text/],
  ["2049 inputs", { model: "m", input: Array.from({ length: 2049 }, () => "x") }, "input", "array_above_max_length", /maximum length 2048, but got an array with length 2049/],
  ["dimensions zero", { ...ok, dimensions: 0 }, "dimensions", "integer_below_min_value", /Expected a value >= 1, but got 0 instead/],
  ["dimensions negative", { ...ok, dimensions: -3 }, "dimensions", "integer_below_min_value", /but got -3 instead/],
  ["dimensions decimal", { ...ok, dimensions: 1.5 }, "dimensions", "invalid_type", /expected an integer, but got a decimal number/],
  ["dimensions a string", { ...ok, dimensions: "256" }, "dimensions", "invalid_type", /expected an integer, but got string/],
  ["dimensions too large", { ...ok, dimensions: 2 ** 32 }, "dimensions", "integer_above_max_value", /integer above maximum value/],
  ["unknown encoding_format", { ...ok, encoding_format: "int8" }, "encoding_format", "invalid_value", /Invalid value: 'int8'. Supported values are: 'float' and 'base64'/],
  ["encoding_format not a string", { ...ok, encoding_format: 1 }, "encoding_format", "invalid_value", /Invalid value: 1\./],
  ["user not a string", { ...ok, user: 7 }, "user", "invalid_type", /Invalid type for 'user'/],
  ["unknown input_type", { ...ok, input_type: "query" }, "input_type", "invalid_value", /Invalid value: 'query'. Supported values are: 'search_document'/],
];

for (const [name, body, param, code, message] of badCases) {
  test(`rejects ${name} with a 400 naming '${param}' (${code})`, () => {
    assert.throws(
      () => parseOpenAIEmbeddingRequest(body),
      (err: unknown) => {
        assert.ok(err instanceof TesseraError, String(err));
        assert.equal(err.kind, "invalid_request");
        assert.equal(err.status, 400);
        assert.equal(err.details.param ?? "", param);
        assert.equal(err.details.code, code);
        assert.match(err.message, message);
        return true;
      },
    );
  });
}

test("base64 is the little-endian float32 bytes of the vector", () => {
  // 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0, 0.5f = 00 00 00 3f (IEEE 754, little-endian).
  const b64 = vectorToBase64([1, -2, 0.5]);
  assert.deepEqual([...Buffer.from(b64, "base64")], [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f]);
  assert.deepEqual(vectorFromBase64(b64), [1, -2, 0.5]);
  assert.throws(() => vectorFromBase64(Buffer.from([1, 2, 3]).toString("base64")), /3 bytes, not a whole number of float32s/);
});

const unified = () =>
  create(EmbedResponseSchema, {
    model: "text-embedding-3-small",
    data: [
      { index: 0, vector: [0.25, -0.5] },
      { index: 1, vector: [1, 0] },
    ],
    usage: { promptTokens: 8, totalTokens: 8 },
  });

test("embedResponseToOpenAI writes OpenAI's list body with float vectors", () => {
  assert.deepEqual(embedResponseToOpenAI(unified(), "float", "my-alias"), {
    object: "list",
    data: [
      { object: "embedding", index: 0, embedding: [0.25, -0.5] },
      { object: "embedding", index: 1, embedding: [1, 0] },
    ],
    model: "text-embedding-3-small",
    usage: { prompt_tokens: 8, total_tokens: 8 },
  });
});

test("embedResponseToOpenAI with base64 writes each vector's float32 bytes; the alias names an unnamed model", () => {
  const r = unified();
  r.model = "";
  r.usage = undefined;
  const out = embedResponseToOpenAI(r, "base64", "my-alias");
  assert.equal(out.model, "my-alias");
  assert.deepEqual(out.usage, { prompt_tokens: 0, total_tokens: 0 });
  assert.equal(out.data[0]!.embedding, vectorToBase64([0.25, -0.5]));
  assert.deepEqual(vectorFromBase64(out.data[1]!.embedding as string), [1, 0]);
});

test("embedRequestToOpenAI sends model, inputs and only the options that were set", () => {
  const bare = create(EmbedRequestSchema, { model: "alias", input: ["a", "b"] });
  assert.deepEqual(embedRequestToOpenAI(bare, "text-embedding-3-large"), { model: "text-embedding-3-large", input: ["a", "b"] });
  const full = create(EmbedRequestSchema, { model: "alias", input: ["a"], dimensions: 64, user: "u1", inputType: "search_query" });
  assert.deepEqual(embedRequestToOpenAI(full, "m"), { model: "m", input: ["a"], dimensions: 64, user: "u1" });
});

test("embedResponseFromOpenAI puts vectors in input order by index and reads usage", () => {
  const r = embedResponseFromOpenAI(
    {
      object: "list",
      data: [
        { object: "embedding", index: 1, embedding: [0.4, 0.5] },
        { object: "embedding", index: 0, embedding: vectorToBase64([0.25, 0.75]) },
      ],
      model: "mistral-embed",
      usage: { prompt_tokens: 16, total_tokens: 16, completion_tokens: 0 },
    },
    2,
  );
  assert.equal(r.model, "mistral-embed");
  assert.deepEqual(r.data.map((e) => [e.index, e.vector]), [
    [0, [0.25, 0.75]],
    [1, [0.4, 0.5]],
  ]);
  assert.equal(r.usage?.promptTokens, 16);
  assert.equal(r.usage?.totalTokens, 16);
});

test("embedResponseFromOpenAI copes with Azure's documented answer (no object, no model)", () => {
  const r = embedResponseFromOpenAI({ data: [{ index: 0, embedding: [-0.012838088, -0.007421397] }], usage: { prompt_tokens: 4, total_tokens: 4 } }, 1);
  assert.equal(r.model, "");
  assert.equal(r.data[0]!.vector.length, 2);
  assert.equal(r.usage?.promptTokens, 4);
});

const garbageCases: [string, unknown, number, RegExp][] = [
  ["not an object", [1], 1, /without a 'data' array/],
  ["no data", { object: "list" }, 1, /without a 'data' array/],
  ["too few vectors", { data: [{ index: 0, embedding: [1] }] }, 2, /1 vectors for 2 inputs/],
  ["index out of range", { data: [{ index: 5, embedding: [1] }] }, 1, /index 5 is not an input position/],
  ["duplicate index", { data: [{ index: 0, embedding: [1] }, { index: 0, embedding: [2] }] }, 2, /two vectors for input 0/],
  ["embedding not numbers", { data: [{ index: 0, embedding: ["a"] }] }, 1, /data\[0\].embedding is not an array of numbers/],
  ["entry not an object", { data: ["x"] }, 1, /data\[0\] is not an object/],
];
for (const [name, json, count, message] of garbageCases) {
  test(`embedResponseFromOpenAI refuses ${name}`, () => {
    assert.throws(() => embedResponseFromOpenAI(json, count), (err: unknown) => err instanceof TypeError && message.test(err.message));
  });
}
