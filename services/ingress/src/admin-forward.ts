import type { DescService } from "@bufbuild/protobuf";
import type { CallOptions, Client, HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { bind, REMOTE_ADDRESS, SOURCE_IP_HEADER, type ServiceBinding } from "@tessera/runtime";
import { credentialOf } from "./rest/http.js";

/** The headers a forwarded call carries: the caller's credential and address, nothing else. */
export function adminCallHeaders(credential: string, sourceIp: string): Record<string, string> {
  const h: Record<string, string> = { [SOURCE_IP_HEADER]: sourceIp };
  if (credential) h["authorization"] = `Bearer ${credential}`;
  return h;
}

/**
 * A service of unary methods on the public port (authz's AdminService, prompt-registry's
 * PromptAdminService, metering's usage API): every call is passed to the service that owns it
 * (in process or over the mesh) with the caller's credential and address, so there is one front
 * door in both topologies and authz stays the only judge of who the caller is.
 */
export function adminForward<S extends DescService>(service: S, client: Client<S>): ServiceBinding<S> {
  const impl: Record<string, (req: object, ctx: HandlerContext) => Promise<object>> = {};
  for (const m of service.methods) {
    const call = (client as unknown as Record<string, (req: object, opts: CallOptions) => Promise<object>>)[m.localName]!;
    impl[m.localName] = (req, ctx) => {
      const a = ctx.requestHeader.get("authorization") ?? undefined;
      const x = ctx.requestHeader.get("x-api-key") ?? undefined;
      const credential = credentialOf({ authorization: a, "x-api-key": x });
      return call.call(client, req, { headers: adminCallHeaders(credential, ctx.values.get(REMOTE_ADDRESS)), signal: ctx.signal });
    };
  }
  return bind(service, impl as unknown as ServiceImpl<S>);
}
