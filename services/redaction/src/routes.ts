import { create } from "@bufbuild/protobuf";
import { bind, type ServiceBinding } from "@tessera/runtime";
import { ChatRequestSchema } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { RedactionService, RedactResponseSchema } from "@tessera/gen/tessera/redaction/v1/redaction_pb";
import type { PolicySet, Vault } from "@tessera/guardrails";
import { redactRequest } from "./domain/redact.js";

/** Dependencies of the redaction routes. */
export interface RedactionDeps {
  policies: PolicySet;
  vault: Vault;
  vaultTtlMs: number;
}

/** Bind RedactionService. */
export function redactionService(deps: RedactionDeps): ServiceBinding<typeof RedactionService> {
  return bind(RedactionService, {
    async redact(req) {
      const request = req.request ?? create(ChatRequestSchema);
      const policy = deps.policies.forCall(req.policy, req.tenantId);
      const r = await redactRequest(request, policy);
      const tokenized = r.tokens.size > 0 && req.requestId !== "";
      if (tokenized) await deps.vault.put(req.requestId, r.tokens, deps.vaultTtlMs);
      return create(RedactResponseSchema, {
        request,
        counts: Object.entries(r.counts).map(([entityType, count]) => ({ entityType, count })),
        policy: policy.name,
        tokenized,
        lastIndex: Object.fromEntries(r.lastIndex),
        injectionScore: r.injectionScore,
      });
    },
  });
}
