import { create, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { Action, ApiRulesSchema, type ApiRules, type AuthzService } from "@tessera/gen/tessera/authz/v1/authz_pb";
import { ChatRequestSchema, type ChatChunk } from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { ApiStep as PlannedStep, PromptRegistryService } from "@tessera/gen/tessera/promptregistry/v1/prompt_registry_pb";
import { toTesseraError, TesseraError, ulid } from "@tessera/runtime";
import type { CallInput, CallPipeline, ChatResult, StreamResult } from "./call.js";

/** What the API runner needs: the call pipeline each step goes through, and the peers that plan it. */
export interface ApiRunnerDeps {
  pipeline: CallPipeline;
  authz: Client<typeof AuthzService>;
  prompts: Client<typeof PromptRegistryService>;
}

/** One API call as planned: its steps in order, and what their mappings read so far. */
interface Plan {
  path: string;
  tenantId: string;
  stickyKey: string;
  chainId: string;
  steps: PlannedStep[];
  /** The API's access rules as prompt-registry resolved them, for authz on every step. */
  rules: ApiRules;
  /** { input, steps: { <name>: { output } } }, filled in as steps finish. */
  context: { input: JsonObject; steps: JsonObject };
}

/**
 * Published prompt APIs (`POST /apis/…`, gRPC InvokePrompt with `api`): the caller's tenant
 * resolved once, the API's plan, input and access rules from prompt-registry, then each step run
 * as a prompt call through the whole pipeline (authz with the API's access rules, redaction,
 * routing, one event per step). Earlier steps' answers feed later steps (parsed when the
 * version has an output schema); the last step's answer is the API's, streamed when asked. A
 * failing step stops the chain with an error naming the step and its cause. The same
 * interface as the pipeline, so every surface serves APIs with the code that serves prompts.
 */
export function createApiRunner(deps: ApiRunnerDeps) {
  async function plan(input: CallInput): Promise<Plan> {
    const call = input.prompt!;
    const path = call.api!;
    const opts = { signal: input.signal };
    const who = await deps.authz.authorize({ credential: input.credential, action: Action.LIST_MODELS, sourceIp: input.sourceIp ?? "" }, opts);
    const { tenantId, userId, keyId } = who.principal!;
    const r = await deps.prompts.resolveApi({ tenantId, path, variables: call.variables }, opts);
    const a = r.access;
    const rules = create(ApiRulesSchema, { keys: a?.keys, teams: a?.teams, roles: a?.roles, requiresApproval: r.requiresApproval });
    return { path, tenantId, stickyKey: userId || keyId, chainId: ulid(), steps: r.steps, rules, context: { input: r.input ?? {}, steps: {} } };
  }

  /** The pipeline input of step `i`: a prompt call of its own; only the last takes the caller's request options. */
  function stepInput(input: CallInput, p: Plan, i: number): CallInput {
    const s = p.steps[i]!;
    const last = i === p.steps.length - 1;
    const step = { tenantId: p.tenantId, stickyKey: p.stickyKey, chainId: p.chainId, index: i, name: s.name, context: p.context, rules: p.rules };
    return {
      ...input,
      request: last ? input.request : create(ChatRequestSchema),
      prompt: { name: s.prompt, label: "", version: 0, variables: {}, maxTokens: last ? input.prompt!.maxTokens : undefined, api: p.path, step },
    };
  }

  /** A step's failure, named: which step of how many, its prompt, and the cause (kind and code kept). */
  function failed(p: Plan, i: number, err: unknown): TesseraError {
    const e = toTesseraError(err);
    if (p.steps.length === 1) return e;
    const s = p.steps[i]!;
    return new TesseraError(e.kind, `Step '${s.name}' (${i + 1} of ${p.steps.length}, prompt '${s.prompt}') of ${p.path} failed: ${e.message}`, {
      ...e.details,
      param: e.details.param ? `steps.${s.name}.${e.details.param}` : `steps.${s.name}`,
    });
  }

  /** Run every step but the last, each answer put where later mappings read it. */
  async function runEarlier(input: CallInput, p: Plan): Promise<void> {
    for (let i = 0; i < p.steps.length - 1; i++) {
      let r: ChatResult;
      try {
        r = await deps.pipeline.chat(stepInput(input, p, i));
      } catch (err) {
        throw failed(p, i, err);
      }
      const output = r.output !== undefined ? r.output : (r.response.choices[0]?.message?.content ?? "");
      p.context.steps[p.steps[i]!.name] = { output: output as JsonValue };
    }
  }

  return {
    async chat(input: CallInput): Promise<ChatResult> {
      const p = await plan(input);
      await runEarlier(input, p);
      const last = p.steps.length - 1;
      try {
        return { ...(await deps.pipeline.chat(stepInput(input, p, last))), chainId: p.chainId };
      } catch (err) {
        throw failed(p, last, err);
      }
    },

    async chatStream(input: CallInput): Promise<StreamResult> {
      const p = await plan(input);
      await runEarlier(input, p);
      const last = p.steps.length - 1;
      let s: StreamResult;
      try {
        s = await deps.pipeline.chatStream(stepInput(input, p, last));
      } catch (err) {
        throw failed(p, last, err);
      }
      const inner = s.chunks;
      async function* chunks(): AsyncGenerator<ChatChunk> {
        try {
          yield* inner;
        } catch (err) {
          throw failed(p, last, err);
        }
      }
      return { ...s, chainId: p.chainId, chunks: chunks() };
    },
  };
}

/** The API runner's interface: the pipeline's, for prompt calls naming an API. */
export type ApiRunner = ReturnType<typeof createApiRunner>;
