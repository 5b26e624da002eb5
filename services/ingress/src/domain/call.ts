import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type { AuthzService, Principal } from "@tessera/gen/tessera/authz/v1/authz_pb";
import type { RedactionService } from "@tessera/gen/tessera/redaction/v1/redaction_pb";
import { ServedSchema, type RouterService, type Served } from "@tessera/gen/tessera/router/v1/router_pb";
import { ChatRequestSchema, Role, type ChatChunk, type ChatRequest, type ChatResponse, type EmbedRequest, type EmbedResponse, type Usage } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { RedactionCountSchema, RequestEventSchema, type RequestEvent, type Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import type { EventPublisher } from "@tessera/events";
import { toTesseraError, ulid, type Logger, type TesseraError } from "@tessera/runtime";

/** What ingress needs: typed clients of the other services (in-process or over HTTP/2). */
export interface CallDeps {
  authz: Client<typeof AuthzService>;
  redaction: Client<typeof RedactionService>;
  router: Client<typeof RouterService>;
  events: EventPublisher;
  log: Logger;
}

/** One call as a surface hands it over. */
export interface CallInput {
  credential: string;
  request: ChatRequest;
  surface: Surface;
  /** Aborted when the client goes away; cancels the upstream call. */
  signal: AbortSignal;
  /** The caller's x-… headers, for conditional routes. */
  headers?: Record<string, string>;
}

/** One embeddings call as a surface hands it over. */
export interface EmbedInput extends Omit<CallInput, "request"> {
  request: EmbedRequest;
}

/** A finished embeddings call. */
export interface EmbedResult {
  requestId: string;
  response: EmbedResponse;
  served: Served;
}

/** A finished unary call. */
export interface ChatResult {
  requestId: string;
  response: ChatResponse;
  served: Served;
}

/** A started stream: the first chunk has arrived (so routing succeeded). */
export interface StreamResult {
  requestId: string;
  served: Served;
  /** Every chunk, the first included. Consuming it to the end publishes the event. */
  chunks: AsyncGenerator<ChatChunk>;
}

const now = () => performance.now();

/**
 * The orchestration of one call: authz → redaction → router, then one RequestEvent. Every
 * failure is a TesseraError for the surface to render; the event is published either way,
 * after the answer, without waiting for the bus.
 */
export function createCallPipeline(deps: CallDeps) {
  function event(input: CallInput | EmbedInput, requestId: string, startedAt: number, stream: boolean): RequestEvent {
    return create(RequestEventSchema, {
      requestId,
      timeUnixMs: BigInt(startedAt),
      surface: input.surface,
      stream,
      modelRequested: input.request.model,
      latency: {},
    });
  }

  /** Authorize a call to a model; fills the event's principal and authz time. */
  async function authorize(input: CallInput | EmbedInput, ev: RequestEvent, t0: number): Promise<Principal> {
    const auth = await deps.authz.authorize(
      { credential: input.credential, model: input.request.model, requestId: ev.requestId },
      { signal: input.signal },
    );
    const principal = auth.principal!;
    setPrincipal(ev, principal);
    ev.latency!.authzMs = now() - t0;
    return principal;
  }

  function setPrincipal(ev: RequestEvent, p: Principal | undefined) {
    if (!p) return;
    ev.tenantId = p.tenantId;
    ev.teamId = p.teamId;
    ev.keyId = p.keyId;
    ev.userId = p.userId;
  }

  function setServed(ev: RequestEvent, s: Served | undefined) {
    if (!s) return;
    ev.provider = s.provider;
    ev.deployment = s.deployment;
    ev.attempts = s.attempts;
  }

  function setUsage(ev: RequestEvent, u: Usage | undefined) {
    if (!u) return;
    ev.promptTokens = u.promptTokens;
    ev.completionTokens = u.completionTokens;
    ev.cachedTokens = u.cachedTokens;
    ev.reasoningTokens = u.reasoningTokens;
  }

  function fail(ev: RequestEvent, err: TesseraError) {
    ev.statusCode = err.status;
    ev.errorType = err.details.code ?? err.kind;
  }

  /** authz then redaction; fills the event's principal, timings and redaction counts. */
  async function prepare(input: CallInput, ev: RequestEvent, t0: number): Promise<{ request: ChatRequest; principal: Principal }> {
    const principal = await authorize(input, ev, t0);
    const t1 = now();
    const red = await deps.redaction.redact(
      { request: input.request, policy: principal.redactionPolicy, tenantId: principal.tenantId },
      { signal: input.signal },
    );
    ev.latency!.redactionMs = now() - t1;
    ev.redactions = red.counts.map((c) => create(RedactionCountSchema, { entityType: c.entityType, count: c.count }));
    return { request: red.request!, principal };
  }

  function publish(ev: RequestEvent, t0: number) {
    ev.latency!.totalMs = now() - t0;
    deps.events.publish(ev);
  }

  return {
    async chat(input: CallInput): Promise<ChatResult> {
      const t0 = now();
      const requestId = ulid();
      const ev = event(input, requestId, Date.now(), false);
      try {
        const { request, principal } = await prepare(input, ev, t0);
        const t2 = now();
        const routed = await deps.router.route({ request, requestId, tenantId: principal.tenantId, headers: input.headers ?? {} }, { signal: input.signal });
        ev.latency!.routerMs = now() - t2;
        const response = routed.response!;
        setServed(ev, routed.served);
        setUsage(ev, response.usage);
        ev.modelServed = response.model;
        ev.finishReason = response.choices[0]?.finishReason ?? "";
        ev.statusCode = 200;
        return { requestId, response, served: routed.served! };
      } catch (err) {
        const e = toTesseraError(err);
        fail(ev, e);
        throw e;
      } finally {
        publish(ev, t0);
      }
    },

    async chatStream(input: CallInput): Promise<StreamResult> {
      const t0 = now();
      const requestId = ulid();
      const ev = event(input, requestId, Date.now(), true);
      let it: AsyncIterator<{ chunk?: ChatChunk; served?: Served }>;
      let first: IteratorResult<{ chunk?: ChatChunk; served?: Served }>;
      let t2 = 0;
      try {
        const { request, principal } = await prepare(input, ev, t0);
        t2 = now();
        it = deps.router
          .routeStream({ request, requestId, tenantId: principal.tenantId, headers: input.headers ?? {} }, { signal: input.signal })
          [Symbol.asyncIterator]();
        first = await it.next();
        ev.latency!.ttftMs = now() - t0;
      } catch (err) {
        const e = toTesseraError(err);
        fail(ev, e);
        publish(ev, t0);
        throw e;
      }
      const served = first.done ? undefined : first.value.served;
      setServed(ev, served);
      async function* chunks(): AsyncGenerator<ChatChunk> {
        try {
          let r = first;
          while (!r.done) {
            const c = r.value.chunk;
            if (c) {
              if (c.model) ev.modelServed = c.model;
              if (c.usage) setUsage(ev, c.usage);
              const fr = c.choices[0]?.finishReason;
              if (fr) ev.finishReason = fr;
              yield c;
            }
            r = await it.next();
          }
          ev.statusCode = 200;
        } catch (err) {
          const e = toTesseraError(err);
          fail(ev, e);
          throw e;
        } finally {
          if (ev.statusCode === 0) {
            // The consumer stopped early: the client went away mid-stream.
            ev.statusCode = 499;
            ev.errorType = "client_closed";
            await it.return?.();
          }
          ev.latency!.routerMs = now() - t2;
          publish(ev, t0);
        }
      }
      return { requestId, served: served ?? create(ServedSchema), chunks: chunks() };
    },

    /**
     * Embeddings: authz, redaction of every input (as user messages, so the tenant's policy
     * applies exactly as to chat), router, then one event with the prompt tokens.
     */
    async embed(input: EmbedInput): Promise<EmbedResult> {
      const t0 = now();
      const requestId = ulid();
      const ev = event(input, requestId, Date.now(), false);
      try {
        const principal = await authorize(input, ev, t0);
        const t1 = now();
        const red = await deps.redaction.redact(
          {
            request: create(ChatRequestSchema, { model: input.request.model, messages: input.request.input.map((content) => ({ role: Role.USER, content })) }),
            policy: principal.redactionPolicy,
            tenantId: principal.tenantId,
          },
          { signal: input.signal },
        );
        ev.latency!.redactionMs = now() - t1;
        ev.redactions = red.counts.map((c) => create(RedactionCountSchema, { entityType: c.entityType, count: c.count }));
        const request = { ...input.request, input: red.request!.messages.map((m) => m.content) };
        const t2 = now();
        const routed = await deps.router.embed(
          { request, requestId, tenantId: principal.tenantId, headers: input.headers ?? {} },
          { signal: input.signal },
        );
        ev.latency!.routerMs = now() - t2;
        const response = routed.response!;
        setServed(ev, routed.served);
        setUsage(ev, response.usage);
        ev.modelServed = response.model;
        ev.statusCode = 200;
        return { requestId, response, served: routed.served! };
      } catch (err) {
        const e = toTesseraError(err);
        fail(ev, e);
        throw e;
      } finally {
        publish(ev, t0);
      }
    },

    async listModels(credential: string, signal: AbortSignal) {
      try {
        await deps.authz.authorize({ credential, model: "" }, { signal });
      } catch (err) {
        const e = toTesseraError(err);
        // A key restricted to some models may still list them; only a bad key is refused.
        if (e.kind !== "permission_denied") throw e;
      }
      const res = await deps.router.listModels({}, { signal });
      return res.models;
    },
  };
}

/** The pipeline's interface. */
export type CallPipeline = ReturnType<typeof createCallPipeline>;
