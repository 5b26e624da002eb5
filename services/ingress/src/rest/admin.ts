import type * as http from "node:http";
import { fromJson, toJson, type DescMessage, type DescService, type JsonValue, type Message } from "@bufbuild/protobuf";
import { isFieldError } from "@bufbuild/protobuf/reflect";
import type { CallOptions, Client } from "@connectrpc/connect";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { errorToOpenAI } from "@tessera/openai-format";
import { TesseraError, toTesseraError, withServerSpan, type Logger } from "@tessera/runtime";
import { sendFormatError } from "./chat-endpoint.js";
import { adminCallHeaders } from "../admin-forward.js";
import { clientGone, credentialOf, readJson, sendJson, sourceOf, type Req, type Res } from "./http.js";

/** One admin API served as REST: its service, a client of it, and its routes. */
export interface AdminApi {
  service: DescService;
  /** Direct in-process, or over the mesh. */
  client: Client<DescService>;
  routes: readonly AdminRoute[];
}

/** An admin API for {@link createAdminRest}, its routes' RPC names checked against the service. */
export function adminApi<S extends DescService>(service: S, client: Client<S>, routes: readonly AdminRoute<S>[]): AdminApi {
  return { service, client: client as unknown as Client<DescService>, routes: routes as readonly AdminRoute[] };
}

/** Options of the admin REST surface. */
export interface AdminRestOptions {
  /** authz's AdminService, prompt-registry's PromptAdminService. */
  apis: readonly AdminApi[];
  maxBodyBytes: number;
  log: Logger;
}

type Verb = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * One REST route. The request message is filled from the JSON body (POST, PUT, PATCH) or the
 * query string (GET, DELETE), then from the path's `{params}`, which are proto field names
 * and win over body fields of the same name. A last segment `{field=lit/**}` takes the rest of
 * the URL from `lit` on, as a path with a leading '/' (`/admin/v1/{path=apis/**}` gives
 * `path` "/apis/support/summarize" for /admin/v1/apis/support/summarize).
 */
export interface AdminRoute<S extends DescService = DescService> {
  method: Verb;
  /** e.g. "/admin/v1/tenants/{tenant_id}/teams/{id}". */
  path: string;
  /** The service method's local name. */
  rpc: keyof S["method"] & string;
  /** The body and path params fill this message field of the request (SetLimit's `limit`). */
  into?: string;
  /** Answer 201 Created rather than 200. */
  created?: boolean;
}

const T = "/admin/v1/tenants/{tenant_id}";

/**
 * Every admin route. Statuses: 201 for a POST to a collection, which creates a resource
 * (tenants, teams, users, keys, budgets, subscription requests); 200 for everything else,
 * including actions (rotate, revoke, decide), updates (PUT, PATCH) and deletes, which answer
 * `{}` rather than 204 so that every answer is a JSON body.
 */
export const ADMIN_ROUTES: readonly AdminRoute<typeof AdminService>[] = [
  { method: "GET", path: "/admin/v1/whoami", rpc: "whoAmI" },
  { method: "POST", path: "/admin/v1/tenants", rpc: "createTenant", created: true },
  { method: "GET", path: "/admin/v1/tenants", rpc: "listTenants" },
  { method: "POST", path: `${T}/teams`, rpc: "createTeam", created: true },
  { method: "GET", path: `${T}/teams`, rpc: "listTeams" },
  { method: "PATCH", path: `${T}/teams/{id}`, rpc: "updateTeam" },
  { method: "POST", path: `${T}/users`, rpc: "createUser", created: true },
  { method: "GET", path: `${T}/users`, rpc: "listUsers" },
  { method: "POST", path: `${T}/keys`, rpc: "createKey", created: true },
  { method: "GET", path: `${T}/keys`, rpc: "listKeys" },
  { method: "PATCH", path: `${T}/keys/{id}`, rpc: "updateKey" },
  { method: "POST", path: `${T}/keys/{id}/rotate`, rpc: "rotateKey" },
  { method: "POST", path: `${T}/keys/{id}/revoke`, rpc: "revokeKey" },
  { method: "DELETE", path: `${T}/keys/{id}`, rpc: "revokeKey" },
  { method: "PUT", path: `${T}/limits`, rpc: "setLimit", into: "limit" },
  { method: "GET", path: `${T}/limits`, rpc: "listLimits" },
  { method: "DELETE", path: `${T}/limits/{scope}/{scope_id}`, rpc: "deleteLimit" },
  { method: "POST", path: `${T}/budgets`, rpc: "setBudget", into: "budget", created: true },
  { method: "PUT", path: `${T}/budgets/{id}`, rpc: "setBudget", into: "budget" },
  { method: "GET", path: `${T}/budgets`, rpc: "listBudgets" },
  { method: "DELETE", path: `${T}/budgets/{id}`, rpc: "deleteBudget" },
  { method: "POST", path: `${T}/subscriptions`, rpc: "requestSubscription", created: true },
  { method: "GET", path: `${T}/subscriptions`, rpc: "listSubscriptions" },
  { method: "POST", path: `${T}/subscriptions/{id}/decide`, rpc: "decideSubscription" },
  { method: "GET", path: "/admin/v1/audit", rpc: "listAudit" },
  { method: "GET", path: `${T}/audit`, rpc: "listAudit" },
];

/** A route ready to match: its path split into literal and `{param}` segments. */
interface CompiledRoute extends AdminRoute {
  client: Client<DescService>;
  segments: readonly { literal?: string; param?: string }[];
  /** A `{field=lit/**}` last segment: the field, and the literal the rest must start with. */
  rest?: { param: string; literal: string };
  input: DescMessage;
  output: DescMessage;
  /** The message the body and path params fill: the request, or its `into` field's message. */
  target: DescMessage;
}

const PREFIX = "/admin/v1";
const HAS_BODY = new Set<string>(["POST", "PUT", "PATCH"]);
const FORMAT = { name: "admin", error: errorToOpenAI };
const TO_JSON = { useProtoFieldName: true, alwaysEmitImplicit: true } as const;

/** Compile one route, checking its params and `into` against the request message. */
function compileRoute(api: AdminApi, route: AdminRoute): CompiledRoute {
  const method = api.service.methods.find((m) => m.localName === route.rpc);
  if (!method) throw new Error(`admin route ${route.path}: ${api.service.typeName} has no method ${route.rpc}`);
  let target: DescMessage = method.input;
  if (route.into) {
    const f = method.input.fields.find((x) => x.name === route.into);
    if (f?.fieldKind !== "message") throw new Error(`admin route ${route.path}: ${route.into} is not a message field of ${method.input.typeName}`);
    target = f.message;
  }
  const scalar = (name: string) => {
    const f = target.fields.find((x) => x.name === name);
    if (f?.fieldKind !== "scalar") throw new Error(`admin route ${route.path}: {${name}} is not a scalar field of ${target.typeName}`);
    return name;
  };
  const tail = /\/\{(\w+)=([\w.-]+)\/\*\*\}$/.exec(route.path);
  const rest = tail ? { param: scalar(tail[1]!), literal: tail[2]! } : undefined;
  const segments = route.path
    .slice(0, tail ? tail.index : undefined)
    .split("/")
    .slice(1)
    .map((s) => {
      const m = /^\{(\w+)\}$/.exec(s);
      return m ? { param: scalar(m[1]!) } : { literal: s };
    });
  return { ...route, client: api.client, segments, ...(rest ? { rest } : {}), input: method.input, output: method.output, target };
}

/** The path params of `route` in `parts`, or undefined when it does not match. */
function matchRoute(route: CompiledRoute, parts: readonly string[]): Record<string, string> | undefined {
  const n = route.segments.length;
  if (route.rest ? parts.length < n + 2 || parts[n] !== route.rest.literal : n !== parts.length) return undefined;
  const params: Record<string, string> = {};
  if (route.rest) {
    const tail = parts.slice(n);
    if (tail.includes("")) return undefined;
    params[route.rest.param] = `/${tail.map((p) => decodeSegment(p, route.rest!.param)).join("/")}`;
  }
  for (let i = 0; i < n; i++) {
    const seg = route.segments[i]!;
    const part = parts[i]!;
    if (seg.literal !== undefined) {
      if (seg.literal !== part) return undefined;
    } else {
      if (part === "") return undefined;
      params[seg.param!] = decodeSegment(part, seg.param!);
    }
  }
  return params;
}

function decodeSegment(part: string, param: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new TesseraError("invalid_request", `The path parameter '${param}' is not valid percent-encoding.`, { param, code: "invalid_path" });
  }
}

/** A request body (empty: `{}`), which must be a JSON object. */
async function readBody(req: Req, limit: number): Promise<Record<string, unknown>> {
  const len = req.headers["content-length"];
  const bodyless = len === "0" || (len === undefined && req.headers["transfer-encoding"] === undefined && req.httpVersionMajor < 2);
  if (bodyless) return {};
  const body = await readJson(req, limit);
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw new TesseraError("invalid_request", "The request body must be a JSON object.", { code: "invalid_json" });
  return body as Record<string, unknown>;
}

/**
 * The query string as proto JSON for `schema`: every name must be a singular scalar field
 * (numbers stay strings, which proto JSON accepts; booleans are `true` or `false`).
 */
function queryJson(schema: DescMessage, query: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of query) {
    const f = schema.fields.find((x) => x.name === name || x.jsonName === name);
    if (!f || f.fieldKind !== "scalar")
      throw new TesseraError("invalid_request", `Unknown query parameter '${name}'.`, { param: name, code: "unknown_parameter" });
    if (f.name in out) throw new TesseraError("invalid_request", `The query parameter '${name}' is given more than once.`, { param: name, code: "invalid_parameter" });
    out[f.name] = value === "true" ? true : value === "false" ? false : value;
  }
  return out;
}

/** Body (or query) fields, then path params over them: the JSON for the route's request. */
function requestJson(route: CompiledRoute, fields: Record<string, unknown>, params: Record<string, string>): JsonValue {
  const merged: Record<string, unknown> = { ...fields };
  for (const [name, value] of Object.entries(params)) {
    const f = route.target.fields.find((x) => x.name === name)!;
    delete merged[f.jsonName];
    merged[name] = value;
  }
  return (route.into ? { [route.into]: merged } : merged) as JsonValue;
}

/** Decode proto JSON, turning protobuf-es's errors into a 400 naming the field. */
function decode(schema: DescMessage, json: JsonValue): Message {
  try {
    return fromJson(schema, json, { ignoreUnknownFields: false });
  } catch (err) {
    const cause = (err as Error).cause;
    if (isFieldError(cause)) {
      const param = cause.field().name;
      throw new TesseraError("invalid_request", `Invalid value for '${param}': ${cause.message}.`, { param, code: "invalid_field" });
    }
    const unknown = /key "([^"]+)" is unknown/.exec((err as Error).message);
    if (unknown) throw new TesseraError("invalid_request", `Unknown field '${unknown[1]}'.`, { param: unknown[1]!, code: "unknown_field" });
    throw new TesseraError("invalid_request", "The request body is not a valid admin request.", { code: "invalid_json" });
  }
}

/**
 * The caller's credential (`authorization: Bearer …`, absent when there is none) and address,
 * the same headers as an admin call over Connect on the public port.
 */
function callOptions(req: Req, res: Res): CallOptions {
  return { headers: adminCallHeaders(credentialOf(req.headers), sourceOf(req)), signal: clientGone(res) };
}

/** Call the route's RPC. Client methods are typed per RPC; the table picks them by name. */
function invoke(route: CompiledRoute, msg: Message, opts: CallOptions): Promise<Message> {
  const fn = (route.client as unknown as Record<string, (m: Message, o: CallOptions) => Promise<Message>>)[route.rpc]!;
  return fn(msg, opts);
}

/**
 * The admin APIs as REST under /admin/v1 (see ADMIN_ROUTES and PROMPT_ADMIN_ROUTES): bodies and answers are protobuf JSON
 * with the .proto's snake_case names, errors OpenAI-style `{ error: { message, type, code,
 * param } }` with the error's status, the caller's credential passed through. Unknown paths
 * under /admin/v1 answer 404, a known path with the wrong method 405 with `allow`. Returns
 * false for paths outside /admin/v1.
 */
export function createAdminRest(opts: AdminRestOptions): (req: Req, res: Res) => boolean {
  const { log } = opts;
  const routes = opts.apis.flatMap((api) => api.routes.map((r) => compileRoute(api, r)));
  const fail = (res: Res, err: unknown) => sendFormatError(res, FORMAT, log, err);

  async function handle(route: CompiledRoute, params: Record<string, string>, query: URLSearchParams, req: Req, res: Res): Promise<void> {
    try {
      let fields: Record<string, unknown>;
      if (HAS_BODY.has(route.method)) {
        const first = query.keys().next();
        if (!first.done)
          throw new TesseraError("invalid_request", `Query parameters are not accepted on ${route.method}; send '${first.value}' in the JSON body.`, { param: first.value, code: "unknown_parameter" });
        fields = await readBody(req, opts.maxBodyBytes);
      } else {
        fields = queryJson(route.input, query);
      }
      const msg = decode(route.input, requestJson(route, fields, params));
      const answer = await invoke(route, msg, callOptions(req, res));
      sendJson(res, route.created ? 201 : 200, toJson(route.output, answer, TO_JSON));
    } catch (err) {
      if (toTesseraError(err).kind === "payload_too_large") (res as http.ServerResponse).shouldKeepAlive = false;
      fail(res, err);
    }
  }

  /** Find the route for the request, or throw the 404 or 405 it deserves. */
  function resolve(method: string, path: string): { route: CompiledRoute; params: Record<string, string> } {
    const parts = path.replace(/\/$/, "").split("/").slice(1);
    const allowed: string[] = [];
    for (const route of routes) {
      const params = matchRoute(route, parts);
      if (!params) continue;
      if (route.method === method) return { route, params };
      allowed.push(route.method);
    }
    if (allowed.length === 0)
      throw new TesseraError("not_found", `Unknown admin API URL: ${method} ${path}. See proto/tessera/authz/v1/admin.proto and proto/tessera/promptregistry/v1/prompt_admin.proto for the admin APIs.`, { code: "unknown_url" });
    throw new TesseraError("invalid_request", `Method ${method} is not allowed on ${path}; use ${allowed.join(" or ")}.`, {
      status: 405,
      code: "method_not_allowed",
      headers: { allow: allowed.join(", ") },
    });
  }

  return (req: Req, res: Res): boolean => {
    const url = req.url ?? "";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== PREFIX && !path.startsWith(`${PREFIX}/`)) return false;
    const method = (req.method ?? "GET").toUpperCase();
    let found;
    try {
      found = resolve(method, path);
    } catch (err) {
      fail(res, err);
      return true;
    }
    const { route, params } = found;
    const query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
    void withServerSpan(`${route.method} ${route.path}`, req.headers, () => handle(route, params, query, req, res));
    return true;
  };
}
