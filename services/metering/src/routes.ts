import { create } from "@bufbuild/protobuf";
import { GetUsageResponseSchema, MeteringService } from "@tessera/gen/tessera/metering/v1/metering_pb";
import type { UsageStore } from "@tessera/usage-store";
import { bind, TesseraError, type ServiceBinding } from "@tessera/runtime";

/** Bind MeteringService to a usage store. */
export function meteringService(deps: { store: UsageStore }): ServiceBinding<typeof MeteringService> {
  return bind(MeteringService, {
      async getUsage(req) {
        if (!req.tenantId) throw new TesseraError("invalid_request", "tenant_id is required", { param: "tenant_id" });
        const end = req.endUnixMs === 0n ? Date.now() : Number(req.endUnixMs);
        const rows = await deps.store.usageByModel(req.tenantId, Number(req.startUnixMs), end);
        return create(GetUsageResponseSchema, {
          models: rows.map((r) => ({
            model: r.model,
            requests: BigInt(r.requests),
            promptTokens: BigInt(r.promptTokens),
            completionTokens: BigInt(r.completionTokens),
            errors: BigInt(r.errors),
          })),
        });
      },
    });
}
