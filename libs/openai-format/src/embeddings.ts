/**
 * OpenAI embeddings wire format (POST /v1/embeddings) ⇄ Tessera's unified EmbedRequest /
 * EmbedResponse, both directions: the gateway's own /v1/embeddings surface (parse the
 * caller's body, render the answer) and OpenAI-shaped providers (build their body, read
 * their answer). Shapes follow OpenAI's API reference (CreateEmbeddingRequest,
 * CreateEmbeddingResponse, Embedding).
 */
import { create } from "@bufbuild/protobuf";
import {
  EmbedRequestSchema,
  EmbedResponseSchema,
  EmbeddingSchema,
  UsageSchema,
  type EmbedRequest,
  type EmbedResponse,
  type Embedding,
} from "@tessera/gen/tessera/chat/v1/chat_pb";
import { isObject, TesseraError, typeName } from "@tessera/runtime";

/** How vectors travel: JSON numbers, or base64 of little-endian float32 bytes. */
export type OpenAIEncodingFormat = "float" | "base64";

/** The body of POST /v1/embeddings. */
export interface OpenAIEmbeddingRequest {
  model: string;
  /** Text, texts, or token ids (one array, or one array per input). */
  input: string | string[] | number[] | number[][];
  /** Shorter vectors, for models that support it (text-embedding-3 and later). */
  dimensions?: number;
  encoding_format?: OpenAIEncodingFormat;
  user?: string;
}

/** One vector of an embeddings answer. */
export interface OpenAIEmbedding {
  object: "embedding";
  /** Position of the input this vector belongs to. */
  index: number;
  /** Numbers, or (encoding_format base64) the little-endian float32 bytes in base64. */
  embedding: number[] | string;
}

/** The answer of POST /v1/embeddings. */
export interface OpenAIEmbeddingResponse {
  object: "list";
  data: OpenAIEmbedding[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** Inputs per request OpenAI accepts ("any array must be 2048 dimensions or less"). */
export const MAX_EMBEDDING_INPUTS = 2048;

/** Largest `dimensions` accepted (the unified field is a uint32; no model comes near). */
const MAX_DIMENSIONS = 2 ** 31 - 1;

/** Tessera's extension: what the vectors are for, for providers that ask (Cohere-style). */
const INPUT_TYPES = new Set(["search_document", "search_query", "classification", "clustering"]);

const KNOWN_PARAMS = new Set(["model", "input", "dimensions", "encoding_format", "user", "input_type"]);

function bad(param: string, message: string, code = "invalid_value"): TesseraError {
  return new TesseraError("invalid_request", message, { param, code });
}

function missing(param: string): TesseraError {
  return new TesseraError("invalid_request", `Missing required parameter: '${param}'.`, { param, code: "missing_required_parameter" });
}

const TOKEN_IDS_MESSAGE =
  "Invalid 'input': token-id arrays are not supported. The gateway routes to providers with different tokenizers and cannot turn token ids back into text; send the text as a string or an array of strings.";

function isTokenIds(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === "number");
}

/** One input text: a non-empty string. */
function parseText(v: unknown, param: string): string {
  if (typeof v !== "string") throw bad(param, `Invalid type for '${param}': expected a string, but got ${typeName(v)} instead.`, "invalid_type");
  if (v === "") throw bad(param, `Invalid '${param}': empty string. Expected a string with minimum length 1.`, "empty_string");
  return v;
}

/** `input`: a string or 1–2048 strings; token ids are refused with a message saying why. */
function parseInput(v: unknown): string[] {
  if (v === undefined || v === null) throw missing("input");
  if (typeof v === "string") return [parseText(v, "input")];
  if (!Array.isArray(v)) throw bad("input", `Invalid type for 'input': expected a string or an array of strings, but got ${typeName(v)} instead.`, "invalid_type");
  if (v.length === 0) throw bad("input", "Invalid 'input': empty array. Expected an array with minimum length 1.", "empty_array");
  if (isTokenIds(v) || isTokenIds(v[0])) throw bad("input", TOKEN_IDS_MESSAGE, "unsupported_input");
  if (v.length > MAX_EMBEDDING_INPUTS)
    throw bad(
      "input",
      `Invalid 'input': array too long. Expected an array with maximum length ${MAX_EMBEDDING_INPUTS}, but got an array with length ${v.length} instead.`,
      "array_above_max_length",
    );
  return v.map((t, i) => parseText(t, `input[${i}]`));
}

/** `dimensions`: absent, or a positive integer. */
function parseDimensions(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad("dimensions", `Invalid type for 'dimensions': expected an integer, but got ${typeName(v)} instead.`, "invalid_type");
  if (!Number.isInteger(v)) throw bad("dimensions", "Invalid type for 'dimensions': expected an integer, but got a decimal number instead.", "invalid_type");
  if (v < 1) throw bad("dimensions", `Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got ${v} instead.`, "integer_below_min_value");
  if (v > MAX_DIMENSIONS)
    throw bad("dimensions", `Invalid 'dimensions': integer above maximum value. Expected a value <= ${MAX_DIMENSIONS}, but got ${v} instead.`, "integer_above_max_value");
  return v;
}

function parseEncodingFormat(v: unknown): OpenAIEncodingFormat {
  if (v === undefined || v === null) return "float";
  if (v === "float" || v === "base64") return v;
  const shown = typeof v === "string" ? `'${v}'` : JSON.stringify(v);
  throw bad("encoding_format", `Invalid value: ${shown}. Supported values are: 'float' and 'base64'.`);
}

function optString(v: unknown, param: string): string {
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw bad(param, `Invalid type for '${param}': expected a string, but got ${typeName(v)} instead.`, "invalid_type");
  return v;
}

/** What an embeddings call asked for beyond the unified request. */
export interface ParsedOpenAIEmbeddingRequest {
  request: EmbedRequest;
  /** How the caller wants the vectors written back. */
  encodingFormat: OpenAIEncodingFormat;
}

/**
 * Validate an OpenAI embeddings body and turn it into the unified request. Errors are
 * TesseraErrors (kind invalid_request) naming the parameter, worded like OpenAI's. Token-id
 * input is refused: the gateway cannot detokenize for every provider behind an alias.
 * `input_type` is accepted as Tessera's extension (search_document, search_query,
 * classification, clustering) for providers that ask what the vectors are for.
 */
export function parseOpenAIEmbeddingRequest(body: unknown): ParsedOpenAIEmbeddingRequest {
  if (!isObject(body)) throw bad("", `Invalid request body: expected a JSON object, but got ${typeName(body)} instead.`);
  for (const key of Object.keys(body)) {
    if (!KNOWN_PARAMS.has(key)) throw new TesseraError("invalid_request", `Unrecognized request argument supplied: ${key}`, { param: key, code: "unknown_parameter" });
  }
  if (body["model"] === undefined || body["model"] === null) throw missing("model");
  const model = optString(body["model"], "model");
  if (model === "") throw bad("model", "Invalid value for 'model': must not be empty.");
  const input = parseInput(body["input"]);
  const inputType = optString(body["input_type"], "input_type");
  if (inputType && !INPUT_TYPES.has(inputType))
    throw bad("input_type", `Invalid value: '${inputType}'. Supported values are: 'search_document', 'search_query', 'classification' and 'clustering'.`);
  const request = create(EmbedRequestSchema, {
    model,
    input,
    dimensions: parseDimensions(body["dimensions"]),
    user: optString(body["user"], "user"),
    inputType,
  });
  return { request, encodingFormat: parseEncodingFormat(body["encoding_format"]) };
}

/** Float32 little-endian bytes of a vector, base64 (what OpenAI sends for encoding_format base64). */
export function vectorToBase64(vector: readonly number[]): string {
  const view = new DataView(new ArrayBuffer(vector.length * 4));
  vector.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return Buffer.from(view.buffer).toString("base64");
}

/** The inverse of {@link vectorToBase64}; throws a TypeError when the bytes are not whole floats. */
export function vectorFromBase64(text: string): number[] {
  const bytes = Buffer.from(text, "base64");
  if (bytes.length % 4 !== 0) throw new TypeError(`a base64 embedding of ${bytes.length} bytes, not a whole number of float32s`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

/**
 * Unified answer → OpenAI's embeddings body. `model` is the model that served the call as
 * the provider named it, or `modelAlias` (what the caller asked for) when the provider did
 * not say (Azure's documented example has no `model`).
 */
export function embedResponseToOpenAI(r: EmbedResponse, encodingFormat: OpenAIEncodingFormat, modelAlias: string): OpenAIEmbeddingResponse {
  const prompt = r.usage?.promptTokens ?? 0;
  return {
    object: "list",
    data: r.data.map((e) => ({ object: "embedding", index: e.index, embedding: encodingFormat === "base64" ? vectorToBase64(e.vector) : [...e.vector] })),
    model: r.model || modelAlias,
    usage: { prompt_tokens: prompt, total_tokens: r.usage?.totalTokens || prompt },
  };
}

/**
 * Unified request → an OpenAI-shaped provider body (vectors as floats, the default, so that
 * every OpenAI-compatible server understands the answer). `input_type` has no OpenAI field.
 */
export function embedRequestToOpenAI(req: EmbedRequest, model: string): OpenAIEmbeddingRequest {
  const out: OpenAIEmbeddingRequest = { model, input: [...req.input] };
  if (req.dimensions > 0) out.dimensions = req.dimensions;
  if (req.user) out.user = req.user;
  return out;
}

function readVector(v: unknown, at: string): number[] {
  if (typeof v === "string") return vectorFromBase64(v);
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isFinite(x))) throw new TypeError(`${at}.embedding is not an array of numbers`);
  return v as number[];
}

function readEmbedding(raw: unknown, i: number, count: number): Embedding {
  const at = `data[${i}]`;
  if (!isObject(raw)) throw new TypeError(`${at} is not an object`);
  const index = raw["index"] ?? i;
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= count) throw new TypeError(`${at}.index ${JSON.stringify(index)} is not an input position (0..${count - 1})`);
  return create(EmbeddingSchema, { index, vector: readVector(raw["embedding"], at) });
}

/**
 * An OpenAI-shaped embeddings answer → the unified one, vectors in input order (sorted by
 * `index`; a missing index means the position). Throws a TypeError saying what is wrong when
 * the body is not such an answer or does not hold exactly one vector per input.
 */
export function embedResponseFromOpenAI(json: unknown, inputCount: number): EmbedResponse {
  if (!isObject(json) || !Array.isArray(json["data"])) throw new TypeError("an answer without a 'data' array");
  const data = json["data"].map((e, i) => readEmbedding(e, i, inputCount)).sort((a, b) => a.index - b.index);
  if (data.length !== inputCount) throw new TypeError(`${data.length} vectors for ${inputCount} inputs`);
  data.forEach((e, i) => {
    if (e.index !== i) throw new TypeError(`two vectors for input ${e.index}`);
  });
  const usage = isObject(json["usage"]) ? json["usage"] : {};
  const prompt = typeof usage["prompt_tokens"] === "number" ? usage["prompt_tokens"] : 0;
  const total = typeof usage["total_tokens"] === "number" ? usage["total_tokens"] : prompt;
  return create(EmbedResponseSchema, {
    model: typeof json["model"] === "string" ? json["model"] : "",
    data,
    usage: create(UsageSchema, { promptTokens: prompt, totalTokens: total }),
  });
}
