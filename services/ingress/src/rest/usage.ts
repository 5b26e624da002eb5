import { create, toJson, type DescEnum } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import {
  BucketSchema,
  DimensionSchema,
  MeteringService,
  MetricSchema,
  QueryLatencyResponseSchema,
  QueryUsageResponseSchema,
  UsageQuerySchema,
  type UsageQuery,
} from "@tessera/gen/tessera/metering/v1/metering_pb";
import { errorToOpenAI } from "@tessera/openai-format";
import { TesseraError, withServerSpan, type Logger } from "@tessera/runtime";
import { adminCallHeaders } from "../admin-forward.js";
import { sendFormatError } from "./chat-endpoint.js";
import { clientGone, credentialOf, sendJson, sourceOf, type Req, type Res } from "./http.js";

/** Options of the usage REST surface. */
export interface UsageRestOptions {
  /** Metering (direct in-process, or over the mesh). */
  metering: Client<typeof MeteringService>;
  log: Logger;
}

/** An enum's values by their REST name: DIMENSION_PROMPT_NAME → prompt_name (UNSPECIFIED left out). */
function restNames(e: DescEnum, prefix: string): Map<string, number> {
  return new Map(e.values.filter((v) => v.number !== 0).map((v) => [v.name.slice(prefix.length).toLowerCase(), v.number]));
}

const DIMENSIONS = restNames(DimensionSchema, "DIMENSION_");
const BUCKETS = new Map([["none", 0], ...restNames(BucketSchema, "BUCKET_")]);
const METRICS = restNames(MetricSchema, "METRIC_");
const FORMAT = { name: "usage", error: errorToOpenAI };
const TO_JSON = { useProtoFieldName: true } as const;

const bad = (param: string, message: string) => new TesseraError("invalid_request", message, { param, code: "invalid_parameter" });

/** One of `names`, or a 400 listing them. */
function pick(names: Map<string, number>, param: string, value: string): number {
  const n = names.get(value);
  if (n === undefined) throw bad(param, `'${value.slice(0, 64)}' is not a valid ${param}; use one of ${[...names.keys()].join(", ")}.`);
  return n;
}

/** A time: Unix milliseconds, or an ISO date (midnight UTC) or date-time. */
function time(param: string, value: string): bigint {
  if (/^\d{1,15}$/.test(value)) return BigInt(value);
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms) || ms < 0) throw bad(param, `'${value.slice(0, 64)}' is not a time; use Unix milliseconds or an ISO date or date-time (2026-03-01, 2026-03-01T12:00:00Z).`);
  return BigInt(ms);
}

/**
 * The query string as a UsageQuery: `from` (required) and `to` (default now), `group_by` (a
 * comma-separated list of dimensions), `bucket`, `order_by` and `limit` (top-N), and a filter
 * per dimension named like it (repeat it for several values).
 */
export function usageQueryOf(query: URLSearchParams): UsageQuery {
  const q = create(UsageQuerySchema);
  const once = new Set<string>();
  const filters = new Map<number, string[]>();
  for (const [name, value] of query) {
    const filter = DIMENSIONS.get(name);
    if (filter !== undefined) {
      filters.set(filter, [...(filters.get(filter) ?? []), value]);
      continue;
    }
    if (once.has(name)) throw bad(name, `The query parameter '${name}' is given more than once.`);
    once.add(name);
    switch (name) {
      case "from":
        q.startUnixMs = time(name, value);
        break;
      case "to":
        q.endUnixMs = time(name, value);
        break;
      case "group_by":
        q.groupBy = value === "" ? [] : value.split(",").map((d) => pick(DIMENSIONS, name, d.trim()));
        break;
      case "bucket":
        q.bucket = pick(BUCKETS, name, value);
        break;
      case "order_by":
        q.orderBy = pick(METRICS, name, value);
        break;
      case "limit":
        if (!/^\d{1,9}$/.test(value)) throw bad(name, "limit must be a whole number.");
        q.limit = Number(value);
        break;
      default:
        throw new TesseraError("invalid_request", `Unknown query parameter '${name.slice(0, 64)}'; see the README's usage API.`, { param: name, code: "unknown_parameter" });
    }
  }
  if (!once.has("from")) throw bad("from", "from is required: the start of the range (Unix ms or an ISO date or date-time).");
  q.filters = [...filters].map(([dimension, values]) => ({ $typeName: "tessera.metering.v1.Filter", dimension, values }));
  return q;
}

/**
 * The usage API as REST: `GET /v1/usage` (usage and spend) and `GET /v1/usage/latency`
 * (percentiles), answered by metering with the caller's credential, as protobuf JSON with the
 * .proto's snake_case names; errors OpenAI-style. Returns false for other paths.
 */
export function createUsageRest(opts: UsageRestOptions): (req: Req, res: Res) => boolean {
  const { metering, log } = opts;

  async function handle(path: string, query: URLSearchParams, req: Req, res: Res): Promise<void> {
    try {
      const q = usageQueryOf(query);
      const call = { headers: adminCallHeaders(credentialOf(req.headers), sourceOf(req)), signal: clientGone(res) };
      if (path === "/v1/usage") sendJson(res, 200, toJson(QueryUsageResponseSchema, await metering.queryUsage({ query: q }, call), TO_JSON));
      else sendJson(res, 200, toJson(QueryLatencyResponseSchema, await metering.queryLatency({ query: q }, call), TO_JSON));
    } catch (err) {
      sendFormatError(res, FORMAT, log, err);
    }
  }

  return (req, res) => {
    const url = req.url ?? "";
    const qi = url.indexOf("?");
    const path = (qi < 0 ? url : url.slice(0, qi)).replace(/\/$/, "");
    if (path !== "/v1/usage" && path !== "/v1/usage/latency") return false;
    if ((req.method ?? "GET").toUpperCase() !== "GET") {
      sendFormatError(res, FORMAT, log, new TesseraError("invalid_request", `Method ${req.method} is not allowed on ${path}; use GET.`, { status: 405, code: "method_not_allowed", headers: { allow: "GET" } }));
      return true;
    }
    void withServerSpan(`GET ${path}`, req.headers, () => handle(path, new URLSearchParams(qi < 0 ? "" : url.slice(qi + 1)), req, res));
    return true;
  };
}
