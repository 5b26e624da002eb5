import { create } from "@bufbuild/protobuf";
import { bind, type ServiceBinding } from "@tessera/runtime";
import { AuthorizeResponseSchema, AuthzService } from "@tessera/gen/tessera/authz/v1/authz_pb";
import type { Keyring } from "./domain/keyring.js";

/** Dependencies of the authz routes. */
export interface AuthzDeps {
  keyring: Keyring;
}

/** Bind AuthzService to the keyring. */
export function authzService(deps: AuthzDeps): ServiceBinding<typeof AuthzService> {
  return bind(AuthzService, {
      authorize(req) {
        const p = deps.keyring.authorize(req.credential, req.model);
        return create(AuthorizeResponseSchema, { principal: p });
      },
    });
}
