import type { Client } from "@connectrpc/connect";
import type { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { SOURCE_IP_HEADER } from "@tessera/runtime";
import type { Caller } from "../domain/admin.js";

/** The headers authz reads a caller from: the credential and the caller's address. */
const PASSED = ["authorization", "x-api-key", SOURCE_IP_HEADER];

/**
 * Callers resolved by authz (AdminService.WhoAmI with the call's own credential), so prompt
 * admin calls are authenticated exactly like authz's admin API: API keys, JWTs, the operator
 * token, and the failed-authentication limit per address. Errors (401, 429) are authz's.
 */
export function callersFromAuthz(admin: Client<typeof AdminService>): (headers: Headers) => Promise<Caller> {
  return async (headers) => {
    const h: Record<string, string> = {};
    for (const name of PASSED) {
      const v = headers.get(name);
      if (v !== null) h[name] = v;
    }
    const w = await admin.whoAmI({}, { headers: h });
    return { operator: w.operator, tenantId: w.tenantId, roles: w.roles, actor: w.operator ? "operator" : w.keyId.startsWith("jwt:") ? w.keyId : `key:${w.keyId}` };
  };
}
