import { create } from "@bufbuild/protobuf";
import { bind, type ServiceBinding } from "@tessera/runtime";
import { ChatRequestSchema } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { RedactionService, RedactResponseSchema } from "@tessera/gen/tessera/redaction/v1/redaction_pb";
import { redactRequest, type Policy } from "./domain/redact.js";

/** Dependencies of the redaction routes. */
export interface RedactionDeps {
  policy: (name: string) => Policy;
}

/** Bind RedactionService. */
export function redactionService(deps: RedactionDeps): ServiceBinding<typeof RedactionService> {
  return bind(RedactionService, {
      redact(req) {
        const request = req.request ?? create(ChatRequestSchema);
        const { counts } = redactRequest(request, deps.policy(req.policy));
        return create(RedactResponseSchema, {
          request,
          counts: Object.entries(counts).map(([entityType, count]) => ({ entityType, count })),
        });
      },
    });
}
