import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { Action, type ApiRules, type AuthzService, type Principal, type RateLimitState } from "@tessera/gen/tessera/authz/v1/authz_pb";
import type { RedactionService } from "@tessera/gen/tessera/redaction/v1/redaction_pb";
import type { PromptRegistryService } from "@tessera/gen/tessera/promptregistry/v1/prompt_registry_pb";
import type { JsonObject } from "@bufbuild/protobuf";
import { ServedSchema, type RouterService, type Served } from "@tessera/gen/tessera/router/v1/router_pb";
import { ChatChunkSchema, ChatRequestSchema, ResponseFormatSchema, Role, type ChatChunk, type ChatRequest, type ChatResponse, type EmbedRequest, type EmbedResponse, type Usage } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { RedactionCountSchema, RequestEventSchema, type RequestEvent, type Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import type { EventPublisher } from "@tessera/events";
import { ResponseRedactor, type PolicySet, type Vault } from "@tessera/guardrails";
import { createStreamAnswer, redactAnswer } from "./answer.js";
import { outputCheck } from "./output-schema.js";
import { toTesseraError, ulid, type Logger, type RateLimitInfo, type TesseraError } from "@tessera/runtime";

/** What ingress needs: typed clients of the other services (in-process or over HTTP/2). */
export interface CallDeps {
  authz: Client<typeof AuthzService>;
  redaction: Client<typeof RedactionService>;
  router: Client<typeof RouterService>;
  /** Renders prompt APIs. */
  prompts: Client<typeof PromptRegistryService>;
  events: EventPublisher;
  log: Logger;
  /** The redaction policies (the answer side runs here, next to the stream). */
  policies: PolicySet;
  /** Where redaction keeps tokenised values for the answer. */
  vault: Vault;
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
  /** The caller's network address (for the failed-authentication limit). */
  sourceIp?: string;
  /** Set for a prompt API call: the request is rendered from the prompt (its model and messages). */
  prompt?: PromptCall;
  /** Set by rendering when the prompt version declares an output schema: checks the answer, returns it parsed. */
  checkOutput?: (answer: string) => unknown;
}

/** A prompt API call: which prompt and version, and its variables. */
export interface PromptCall {
  name: string;
  label: string;
  version: number;
  variables: JsonObject;
  maxTokens?: number | undefined;
  /** A published API's path (e.g. "/apis/support/summarize"): the API names the prompts. */
  api?: string | undefined;
  /** Set by the API runner for each step it runs through this pipeline. */
  step?: ApiStep | undefined;
}

/** One step of a published API call, as the pipeline renders and meters it. */
export interface ApiStep {
  /** The caller's tenant, resolved once for the whole API call. */
  tenantId: string;
  /** Who is calling (user id, else key id): label splits serve each caller one version. */
  stickyKey: string;
  /** The id of the whole API call, on every step's event. */
  chainId: string;
  index: number;
  name: string;
  /** What the step's variable mappings read: { input, steps: { <name>: { output } } }. */
  context: JsonObject;
  /**
   * The API's access rules as prompt-registry resolved them: authz knows a configured API's
   * own, not one published at run time, so ingress (the hub) hands them over with each step.
   */
  rules: ApiRules;
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
  /** The rate limits that applied, for the x-ratelimit-* headers. */
  rateLimit?: RateLimitInfo | undefined;
}

/** A finished unary call. */
export interface ChatResult {
  requestId: string;
  response: ChatResponse;
  served: Served;
  rateLimit?: RateLimitInfo | undefined;
  /** The prompt version that served a prompt API call (0 otherwise). */
  promptVersion?: number;
  /** The answer parsed, when the prompt version declares an output schema (it matched). */
  output?: unknown;
  /** A published API call's id, shared by the events of its steps. */
  chainId?: string;
}

/** A started stream: the first chunk has arrived (so routing succeeded). */
export interface StreamResult {
  requestId: string;
  served: Served;
  rateLimit?: RateLimitInfo | undefined;
  promptVersion?: number;
  chainId?: string;
  /** Every chunk, the first included. Consuming it to the end publishes the event. */
  chunks: AsyncGenerator<ChatChunk>;
}

const now = () => performance.now();

/** A rough token count of some text (4 characters a token), for limits and budget estimates. */
const tokensOf = (chars: number) => Math.ceil(chars / 4);

/** Characters of text in a chat request's messages. */
function promptChars(r: ChatRequest): number {
  let n = 0;
  for (const m of r.messages) {
    n += m.content.length;
    for (const p of m.parts) if (p.part.case === "text") n += p.part.value.length;
    for (const t of m.toolCalls) n += t.function?.arguments.length ?? 0;
  }
  return n;
}

function rateLimitOf(s: RateLimitState | undefined): RateLimitInfo | undefined {
  if (!s) return undefined;
  return {
    limitRequests: s.limitRequests,
    remainingRequests: s.remainingRequests,
    resetRequestsMs: s.resetRequestsMs,
    limitTokens: Number(s.limitTokens),
    remainingTokens: Number(s.remainingTokens),
    resetTokensMs: s.resetTokensMs,
  };
}

/** What authz granted a call: who, and what to settle afterwards. */
interface Grant {
  principal: Principal;
  reservation: string;
  rateLimit?: RateLimitInfo | undefined;
}

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
  async function authorize(input: CallInput | EmbedInput, ev: RequestEvent, t0: number, action: Action, inputTokens: number, maxOutputTokens: number, prompt?: PromptCall): Promise<Grant> {
    const auth = await deps.authz.authorize(
      {
        credential: input.credential,
        prompt: prompt?.name ?? "",
        api: prompt?.api ?? "",
        ...(prompt?.step ? { apiRules: prompt.step.rules } : {}),
        model: input.request.model,
        requestId: ev.requestId,
        action,
        estimatedInputTokens: inputTokens,
        maxOutputTokens,
        sourceIp: input.sourceIp ?? "",
      },
      { signal: input.signal },
    );
    const principal = auth.principal!;
    setPrincipal(ev, principal);
    ev.latency!.authzMs = now() - t0;
    return { principal, reservation: auth.reservationId, rateLimit: rateLimitOf(auth.rateLimit) };
  }

  /**
   * Settle the call's reservation with its actual usage, off the answer's path: a failure is
   * logged (the reservation then expires by itself).
   */
  function settle(grant: Grant | undefined, ev: RequestEvent, served: Served | undefined, usage: Usage | undefined): void {
    if (!grant?.reservation) return;
    const providerId = served?.deployment.split("/")[0] ?? "";
    deps.authz
      .settle({ reservationId: grant.reservation, usage, provider: providerId, providerModel: served?.providerModel ?? "" })
      .catch((err: unknown) => deps.log.warn({ err: toTesseraError(err).message, requestId: ev.requestId }, "could not settle a call's budget reservation"));
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
    ev.fallbacks = s.fallbacks;
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

  /**
   * A prompt API call: who is calling (no limits counted yet), then the prompt rendered for
   * their tenant; the rendered request then goes through authz (prompt access, the prompt's
   * model, limits and budgets) like any call. A published API's step comes with its tenant
   * and is rendered from the API's mappings.
   */
  async function render(input: CallInput, ev: RequestEvent): Promise<void> {
    const call = input.prompt!;
    const step = call.step;
    ev.promptName = call.name;
    if (step) Object.assign(ev, { apiPath: call.api, chainId: step.chainId, chainStep: step.name, chainStepIndex: step.index });
    // Sticky per caller: a label split between versions serves each user (else key) one version.
    let tenantId: string, stickyKey: string;
    if (step) ({ tenantId, stickyKey } = step);
    else {
      const p = (await deps.authz.authorize({ credential: input.credential, action: Action.LIST_MODELS, sourceIp: input.sourceIp ?? "" }, { signal: input.signal })).principal!;
      tenantId = p.tenantId;
      stickyKey = p.userId || p.keyId;
    }
    const r = await deps.prompts.render(
      step
        ? { tenantId, api: call.api, step: step.index, context: step.context, stickyKey }
        : { tenantId, name: call.name, label: call.label, version: call.version, variables: call.variables, stickyKey },
      { signal: input.signal },
    );
    ev.promptVersion = r.version;
    ev.modelRequested = r.model;
    const maxTokens = call.maxTokens ?? r.maxTokens;
    input.request = create(ChatRequestSchema, {
      ...input.request,
      model: r.model,
      messages: r.messages,
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
      ...(r.outputSchema
        ? { responseFormat: create(ResponseFormatSchema, { type: "json_schema", schemaName: call.name.replace(/[^A-Za-z0-9_-]/g, "_"), schema: r.outputSchema, strict: true }) }
        : {}),
    });
    if (r.outputSchema) input.checkOutput = outputCheck(call.name, r.version, r.outputSchema as Record<string, unknown>);
  }

  async function prepare(input: CallInput, ev: RequestEvent, t0: number, grant: { g?: Grant }): Promise<{ request: ChatRequest; principal: Principal; answer: ResponseRedactor }> {
    if (input.prompt) await render(input, ev);
    const action = input.prompt ? Action.INVOKE_PROMPT : Action.CHAT;
    const g = await authorize(input, ev, t0, action, tokensOf(promptChars(input.request)), input.request.maxTokens ?? 0, input.prompt);
    grant.g = g;
    const principal = g.principal;
    const t1 = now();
    const red = await deps.redaction.redact(
      { request: input.request, policy: principal.redactionPolicy, tenantId: principal.tenantId, requestId: ev.requestId },
      { signal: input.signal },
    );
    const tokens = red.tokenized ? await deps.vault.get(ev.requestId) : new Map<string, string>();
    if (red.tokenized) void deps.vault.delete(ev.requestId).catch(() => undefined);
    const answer = new ResponseRedactor(deps.policies.byName(red.policy), tokens, new Map(Object.entries(red.lastIndex)));
    ev.latency!.redactionMs = now() - t1;
    ev.redactions = red.counts.map((c) => create(RedactionCountSchema, { entityType: c.entityType, count: c.count }));
    return { request: red.request!, principal, answer };
  }

  /** Add what the answer side masked to the event, as "answer.<type>". */
  function answerCounts(ev: RequestEvent, a: ResponseRedactor | undefined): void {
    if (!a) return;
    for (const [t, n] of Object.entries(a.counts)) ev.redactions.push(create(RedactionCountSchema, { entityType: `answer.${t}`, count: n }));
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
      const grant: { g?: Grant } = {};
      let served: Served | undefined;
      let usage: Usage | undefined;
      let answer: ResponseRedactor | undefined;
      try {
        const prepared = await prepare(input, ev, t0, grant);
        const { request, principal } = prepared;
        answer = prepared.answer;
        const t2 = now();
        const routed = await deps.router.route({ request, requestId, tenantId: principal.tenantId, headers: input.headers ?? {} }, { signal: input.signal });
        ev.latency!.routerMs = now() - t2;
        const response = routed.response!;
        served = routed.served;
        usage = response.usage;
        setServed(ev, routed.served);
        setUsage(ev, response.usage);
        ev.modelServed = response.model;
        ev.finishReason = response.choices[0]?.finishReason ?? "";
        if (answer.active) redactAnswer(answer, response);
        const output = input.checkOutput?.(response.choices[0]?.message?.content ?? "");
        ev.statusCode = 200;
        return { requestId, response, served: routed.served!, rateLimit: grant.g?.rateLimit, promptVersion: ev.promptVersion, output };
      } catch (err) {
        const e = toTesseraError(err);
        fail(ev, e);
        throw e;
      } finally {
        settle(grant.g, ev, served, usage);
        answerCounts(ev, answer);
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
      const grant: { g?: Grant } = {};
      let answer: ResponseRedactor | undefined;
      try {
        const prepared = await prepare(input, ev, t0, grant);
        const { request, principal } = prepared;
        answer = prepared.answer;
        t2 = now();
        it = deps.router
          .routeStream({ request, requestId, tenantId: principal.tenantId, headers: input.headers ?? {} }, { signal: input.signal })
          [Symbol.asyncIterator]();
        first = await it.next();
        ev.latency!.ttftMs = now() - t0;
      } catch (err) {
        const e = toTesseraError(err);
        fail(ev, e);
        settle(grant.g, ev, undefined, undefined);
        publish(ev, t0);
        throw e;
      }
      const served = first.done ? undefined : first.value.served;
      let usage: Usage | undefined;
      setServed(ev, served);
      const redactStream = answer?.active ? createStreamAnswer(answer) : undefined;
      async function* chunks(): AsyncGenerator<ChatChunk> {
        try {
          let r = first;
          let last: ChatChunk | undefined;
          let streamed = "";
          while (!r.done) {
            const c = r.value.chunk;
            if (c) {
              last = c;
              redactStream?.chunk(c);
              if (input.checkOutput) streamed += c.choices[0]?.delta?.content ?? "";
              if (c.model) ev.modelServed = c.model;
              if (c.usage) {
                usage = c.usage;
                setUsage(ev, c.usage);
              }
              const fr = c.choices[0]?.finishReason;
              if (fr) ev.finishReason = fr;
              yield c;
            }
            r = await it.next();
          }
          // A stream that ended without finishing a choice still gets what was held back.
          const open = redactStream?.openChoices() ?? [];
          if (open.length > 0) {
            const tail = create(ChatChunkSchema, { id: last?.id ?? "", created: last?.created ?? 0n, model: last?.model ?? "", choices: open.map((index) => ({ index, delta: {} })) });
            for (const i of open) redactStream!.flushChoice(tail, i);
            if (input.checkOutput) streamed += tail.choices[0]?.delta?.content ?? "";
            yield tail;
          }
          // A prompt's output schema: the whole answer is checked once it is complete.
          input.checkOutput?.(streamed);
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
          settle(grant.g, ev, served, usage);
          answerCounts(ev, answer);
          publish(ev, t0);
        }
      }
      return { requestId, served: served ?? create(ServedSchema), rateLimit: grant.g?.rateLimit, promptVersion: ev.promptVersion, chunks: chunks() };
    },

    /**
     * Embeddings: authz, redaction of every input (as user messages, so the tenant's policy
     * applies exactly as to chat), router, then one event with the prompt tokens.
     */
    async embed(input: EmbedInput): Promise<EmbedResult> {
      const t0 = now();
      const requestId = ulid();
      const ev = event(input, requestId, Date.now(), false);
      let grant: Grant | undefined;
      let served: Served | undefined;
      let usage: Usage | undefined;
      try {
        grant = await authorize(input, ev, t0, Action.EMBED, tokensOf(input.request.input.reduce((n, t) => n + t.length, 0)), 0);
        const principal = grant.principal;
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
        served = routed.served;
        usage = response.usage;
        setServed(ev, routed.served);
        setUsage(ev, response.usage);
        ev.modelServed = response.model;
        ev.statusCode = 200;
        return { requestId, response, served: routed.served!, rateLimit: grant.rateLimit };
      } catch (err) {
        const e = toTesseraError(err);
        fail(ev, e);
        throw e;
      } finally {
        settle(grant, ev, served, usage);
        publish(ev, t0);
      }
    },

    /** The models the caller may use: the router's catalogue filtered by authz. */
    async listModels(credential: string, signal: AbortSignal, sourceIp = "") {
      const res = await deps.router.listModels({}, { signal });
      const auth = await deps.authz.authorize(
        { credential, action: Action.LIST_MODELS, sourceIp, candidateModels: res.models.map((m) => m.id) },
        { signal },
      );
      const allowed = new Set(auth.allowedModels);
      return res.models.filter((m) => allowed.has(m.id));
    },
  };
}

/** The pipeline's interface. */
export type CallPipeline = ReturnType<typeof createCallPipeline>;
