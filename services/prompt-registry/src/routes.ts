import { create, type JsonObject } from "@bufbuild/protobuf";
import { bind, type ServiceBinding } from "@tessera/runtime";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { PromptRegistryService, RenderResponseSchema } from "@tessera/gen/tessera/promptregistry/v1/prompt_registry_pb";
import type { Registry } from "./domain/registry.js";

const ROLES = { system: Role.SYSTEM, user: Role.USER, assistant: Role.ASSISTANT } as const;

/** Bind PromptRegistryService. */
export function promptRegistryService(deps: { registry: Registry }): ServiceBinding<typeof PromptRegistryService> {
  return bind(PromptRegistryService, {
      render(req) {
        const r = deps.registry.render(req.tenantId, req.name, req.label, req.version, req.variables ?? {});
        return create(RenderResponseSchema, {
          version: r.version,
          model: r.model,
          messages: r.messages.map((m) => ({ role: ROLES[m.role], content: m.content })),
          ...(r.maxTokens !== undefined ? { maxTokens: r.maxTokens } : {}),
          ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
          ...(r.outputSchema ? { outputSchema: r.outputSchema as JsonObject } : {}),
        });
      },
    });
}
