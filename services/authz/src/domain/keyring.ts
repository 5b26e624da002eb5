import { sha256Hex, TesseraError, type ResolvedApiKey } from "@tessera/runtime";

/** The principal a credential resolves to. */
export interface PrincipalInfo {
  tenantId: string;
  keyId: string;
  teamId: string;
  userId: string;
  roles: string[];
  redactionPolicy: string;
}

/** Static API keys from configuration, looked up by the sha256 of the presented key. */
export interface Keyring {
  /** Resolve a credential and check the model is allowed; throws a TesseraError when not. */
  authorize(credential: string, model: string): PrincipalInfo;
}

/**
 * Build a keyring. Keys are only ever held as hashes; a presented key is hashed once and
 * looked up, so no secret is compared or kept in memory in clear.
 */
export function createKeyring(keys: ResolvedApiKey[]): Keyring {
  const byHash = new Map<string, { info: PrincipalInfo; models: Set<string> }>();
  for (const k of keys) {
    byHash.set(k.keySha256, {
      info: {
        tenantId: k.tenant,
        keyId: k.id,
        teamId: k.team,
        userId: k.user,
        roles: k.roles,
        redactionPolicy: k.redaction_policy,
      },
      models: new Set(k.models),
    });
  }
  return {
    authorize(credential, model) {
      if (!credential)
        throw new TesseraError(
          "unauthenticated",
          "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' (or the 'x-api-key' header).",
          { code: "missing_api_key" },
        );
      const entry = byHash.get(sha256Hex(credential));
      if (!entry)
        throw new TesseraError("unauthenticated", "Incorrect API key provided. Check the key, or ask your Tessera admin for one.", {
          code: "invalid_api_key",
        });
      if (entry.models.size > 0 && !entry.models.has(model))
        throw new TesseraError("permission_denied", `This API key is not allowed to use model '${model}'.`, {
          code: "model_not_allowed",
          param: "model",
        });
      return entry.info;
    },
  };
}
