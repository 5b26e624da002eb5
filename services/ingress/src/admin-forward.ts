import type { CallOptions, Client, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { bind, REMOTE_ADDRESS, SOURCE_IP_HEADER, type ServiceBinding } from "@tessera/runtime";
import { credentialOf } from "./rest/http.js";

/** The headers an admin call carries to authz: the caller's credential and address, nothing else. */
export function adminCallHeaders(credential: string, sourceIp: string): Record<string, string> {
  const h: Record<string, string> = { [SOURCE_IP_HEADER]: sourceIp };
  if (credential) h["authorization"] = `Bearer ${credential}`;
  return h;
}

/**
 * AdminService on the public port: every call is passed to authz (in process or over the
 * mesh) with the caller's credential and address, so there is one front door in both
 * topologies and authz stays the only judge of who may do what.
 */
export function adminForward(admin: Client<typeof AdminService>): ServiceBinding<typeof AdminService> {
  const impl: Record<string, (req: object, ctx: HandlerContext) => Promise<object>> = {};
  for (const m of AdminService.methods) {
    const call = (admin as unknown as Record<string, (req: object, opts: CallOptions) => Promise<object>>)[m.localName]!;
    impl[m.localName] = (req, ctx) => {
      const a = ctx.requestHeader.get("authorization") ?? undefined;
      const x = ctx.requestHeader.get("x-api-key") ?? undefined;
      const credential = credentialOf({ authorization: a, "x-api-key": x });
      return call.call(admin, req, { headers: adminCallHeaders(credential, ctx.values.get(REMOTE_ADDRESS)), signal: ctx.signal });
    };
  }
  return bind(AdminService, impl as unknown as ServiceImpl<typeof AdminService>);
}
