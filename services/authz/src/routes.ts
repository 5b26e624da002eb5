import type { ConnectRouter } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { AuthorizeResponseSchema, AuthzService } from "@tessera/gen/tessera/authz/v1/authz_pb";
import type { Keyring } from "./domain/keyring.js";

/** Dependencies of the authz routes. */
export interface AuthzDeps {
  keyring: Keyring;
}

/** Bind AuthzService to the keyring. */
export function routes(deps: AuthzDeps) {
  return (router: ConnectRouter) =>
    router.service(AuthzService, {
      authorize(req) {
        const p = deps.keyring.authorize(req.credential, req.model);
        return create(AuthorizeResponseSchema, { principal: p });
      },
    });
}
