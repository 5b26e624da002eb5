import { createTtlCache, sha256Hex, TesseraError, type Logger, type ResolvedApiKey } from "@tessera/runtime";
import type { Limiter } from "./limiter.js";
import type { AuthzStore, KeyRow, TeamRow } from "./store.js";
import type { JwtVerifier } from "./jwt.js";
import { looksLikeJwt } from "./jwt.js";

/** The roles Tessera knows, per tenant. */
export const ROLES = ["admin", "developer", "viewer"] as const;
export type Role = (typeof ROLES)[number];

/** Who a credential is, before any check of what they want. */
export interface Identity {
  /** The operator's bootstrap token: every admin action in every tenant, no model calls. */
  operator: boolean;
  tenantId: string;
  teamId: string;
  userId: string;
  /** Key id, "jwt:<subject>", or "operator". */
  keyId: string;
  roles: Role[];
  modelsAllow: string[];
  modelsDeny: string[];
  promptsAllow: string[];
  /** Published prompt APIs the key may call. */
  apisAllow: string[];
  redactionPolicy: string;
  /** The team's row when the identity has a team that exists in the store. */
  team?: TeamRow | undefined;
}

/** Audit name of an identity. */
export function actorOf(id: Identity): string {
  if (id.operator) return "operator";
  return id.keyId.startsWith("jwt:") ? id.keyId : `key:${id.keyId}`;
}

export interface IdentityDeps {
  store: AuthzStore;
  limiter: Limiter;
  jwt?: JwtVerifier | undefined;
  /** Keys from the configuration file (hash only). */
  staticKeys: ResolvedApiKey[];
  /** sha256 of the operator's bootstrap token, when one is set. */
  operatorTokenHash?: string | undefined;
  cacheMs: number;
  /** Failed authentications per source address per minute (0: unlimited). */
  maxFailedAuthPerMinute: number;
  log: Logger;
  now?: () => number;
}

const FAIL_WINDOW_MS = 60_000;

const fail = (code: string, message: string) => new TesseraError("unauthenticated", message, { code });

function asRoles(xs: readonly string[]): Role[] {
  return xs.filter((r): r is Role => (ROLES as readonly string[]).includes(r));
}

/**
 * Credential → identity: the operator token, a bearer JWT from a trusted issuer, a key from
 * the configuration file, or a key from the store (cached for `cacheMs`, so a revocation
 * takes effect everywhere within that time). Failed attempts are counted per source address;
 * past the limit every attempt from it is refused with 429 until the window ends, whatever
 * the credential. Errors never contain the credential.
 */
export function createIdentityResolver(deps: IdentityDeps) {
  const now = deps.now ?? Date.now;
  const keys = createTtlCache<KeyRow | undefined>(deps.cacheMs);
  const teams = createTtlCache<TeamRow | undefined>(deps.cacheMs);
  const statics = new Map(deps.staticKeys.map((k) => [k.keySha256, k]));

  async function team(tenantId: string, teamId: string): Promise<TeamRow | undefined> {
    if (!teamId) return undefined;
    return teams.get(`${tenantId}\u0000${teamId}`, () => deps.store.getTeam(tenantId, teamId));
  }

  async function checkSource(sourceIp: string): Promise<void> {
    if (!deps.maxFailedAuthPerMinute || !sourceIp) return;
    const [n] = await deps.limiter.peek([{ key: `authfail:${sourceIp}`, windowMs: FAIL_WINDOW_MS }], now());
    if ((n ?? 0) >= deps.maxFailedAuthPerMinute) {
      const retryAfterS = Math.max(1, Math.ceil((FAIL_WINDOW_MS - (now() % FAIL_WINDOW_MS)) / 1000));
      throw new TesseraError(
        "rate_limited",
        `Too many failed authentication attempts from your address; try again in ${retryAfterS} s with a valid key.`,
        { code: "too_many_failed_auth", retryAfterS },
      );
    }
  }

  async function failed(sourceIp: string, err: TesseraError): Promise<never> {
    if (deps.maxFailedAuthPerMinute && sourceIp) {
      await deps.limiter.adjust([{ key: `authfail:${sourceIp}`, amount: 1, windowMs: FAIL_WINDOW_MS }], now()).catch((e: unknown) => {
        deps.log.warn({ err: (e as Error).message }, "could not count a failed authentication");
      });
    }
    throw err;
  }

  async function fromKey(k: KeyRow): Promise<Identity> {
    const t = now();
    if (k.revokedAt && k.revokedAt.getTime() <= t) throw fail("key_revoked", `API key ${k.id} was revoked. Ask your Tessera admin for a new key.`);
    if (k.expiresAt && k.expiresAt.getTime() <= t)
      throw fail("key_expired", `API key ${k.id} expired at ${k.expiresAt.toISOString()}. Rotate it or ask your Tessera admin for a new key.`);
    return {
      operator: false,
      tenantId: k.tenantId,
      teamId: k.teamId,
      userId: k.userId,
      keyId: k.id,
      roles: asRoles(k.roles),
      modelsAllow: k.modelsAllow,
      modelsDeny: k.modelsDeny,
      promptsAllow: k.promptsAllow,
      apisAllow: k.apisAllow,
      redactionPolicy: k.redactionPolicy || "default",
      team: await team(k.tenantId, k.teamId),
    };
  }

  async function resolveUnchecked(credential: string): Promise<Identity> {
    if (looksLikeJwt(credential)) {
      if (!deps.jwt) throw fail("invalid_api_key", "Bearer tokens are not accepted here: no token issuer is configured (authz.jwt.issuers). Use an API key.");
      const j = await deps.jwt.verify(credential);
      return {
        operator: false,
        tenantId: j.tenantId,
        teamId: j.teamId,
        userId: j.userId,
        keyId: `jwt:${j.subject}`,
        roles: asRoles(j.roles),
        modelsAllow: [],
        modelsDeny: [],
        promptsAllow: [],
        apisAllow: [],
        redactionPolicy: "default",
        team: await team(j.tenantId, j.teamId),
      };
    }
    const hash = sha256Hex(credential);
    if (deps.operatorTokenHash && hash === deps.operatorTokenHash)
      return { operator: true, tenantId: "", teamId: "", userId: "", keyId: "operator", roles: ["admin"], modelsAllow: [], modelsDeny: [], promptsAllow: [], apisAllow: [], redactionPolicy: "default" };
    const s = statics.get(hash);
    if (s)
      return {
        operator: false,
        tenantId: s.tenant,
        teamId: s.team,
        userId: s.user,
        keyId: s.id,
        roles: asRoles(s.roles),
        modelsAllow: s.models,
        modelsDeny: [],
        promptsAllow: s.prompts,
        apisAllow: s.apis,
        redactionPolicy: s.redaction_policy,
        team: await team(s.tenant, s.team),
      };
    const k = await keys.get(hash, () => deps.store.getKeyByHash(hash));
    if (!k) throw fail("invalid_api_key", "Incorrect API key provided. Check the key, or ask your Tessera admin for one.");
    return fromKey(k);
  }

  return {
    /** Resolve a credential; throws 401 (or 429 for a source past its failed-auth limit). */
    async resolve(credential: string, sourceIp: string): Promise<Identity> {
      if (!credential)
        throw fail("missing_api_key", "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' (or the 'x-api-key' header).");
      await checkSource(sourceIp);
      try {
        return await resolveUnchecked(credential);
      } catch (err) {
        if (err instanceof TesseraError && err.kind === "unauthenticated") return failed(sourceIp, err);
        throw err;
      }
    },
    /** Forget cached keys and teams (a local admin change). */
    invalidate(): void {
      keys.clear();
      teams.clear();
    },
  };
}

export type IdentityResolver = ReturnType<typeof createIdentityResolver>;
