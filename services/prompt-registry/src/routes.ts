import { create, type JsonObject } from "@bufbuild/protobuf";
import { bind, type ServiceBinding } from "@tessera/runtime";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { PromptRegistryService, RenderResponseSchema, ResolveApiResponseSchema } from "@tessera/gen/tessera/promptregistry/v1/prompt_registry_pb";
import type { Registry, Rendered } from "./domain/registry.js";
import type { Apis } from "./domain/apis.js";

const ROLES = { system: Role.SYSTEM, user: Role.USER, assistant: Role.ASSISTANT } as const;

function rendered(r: Rendered) {
  return create(RenderResponseSchema, {
    version: r.version,
    model: r.model,
    messages: r.messages.map((m) => ({ role: ROLES[m.role], content: m.content })),
    ...(r.maxTokens !== undefined ? { maxTokens: r.maxTokens } : {}),
    ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
    ...(r.outputSchema ? { outputSchema: r.outputSchema as JsonObject } : {}),
  });
}

/** Bind PromptRegistryService. */
export function promptRegistryService(deps: { registry: Registry; apis: Apis }): ServiceBinding<typeof PromptRegistryService> {
  return bind(PromptRegistryService, {
      render(req) {
        if (req.api) return rendered(deps.apis.renderStep(req.tenantId, req.api, req.step, req.context ?? {}));
        return rendered(deps.registry.render(req.tenantId, req.name, req.label, req.version, req.variables ?? {}));
      },
      resolveApi(req) {
        const plan = deps.apis.resolve(req.tenantId, req.path, req.variables ?? {});
        return create(ResolveApiResponseSchema, { steps: plan.steps, input: plan.input });
      },
    });
}
