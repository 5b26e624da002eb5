import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from "jose";
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions, JWTVerifyResult, RemoteJWKSet } from "jose";
import { ConfigError, TesseraError, type JwtIssuerConfig, type Logger } from "@tessera/runtime";

/** Who a verified bearer token says the caller is. */
export interface JwtIdentity {
  /** The issuer's `iss`, as configured. */
  issuer: string;
  /** The token's `sub`. */
  subject: string;
  tenantId: string;
  /** "" when the token names no team. */
  teamId: string;
  /** The user claim, or the subject when the token has none. */
  userId: string;
  /** Tessera roles (admin, developer, viewer); never empty. */
  roles: string[];
  /** When the token expires (its `exp`), in ms since the epoch. */
  expiresAtMs: number;
}

/** Verifies bearer tokens from the configured issuers. */
export interface JwtVerifier {
  /**
   * Verify a token and map its claims to an identity. Throws a TesseraError: unauthenticated
   * (token problems) or unavailable (the issuer's keys cannot be fetched). Messages never
   * contain the token or any part of it.
   */
  verify(token: string): Promise<JwtIdentity>;
}

/** Tuning for {@link createJwtVerifier}. */
export interface JwtVerifierOptions {
  /** Timeout of one JWKS fetch (default 5 s). */
  fetchTimeoutMs?: number;
  /**
   * Minimum time between two JWKS fetches caused by an unknown `kid` (default 30 s). Also
   * bounds how long a failed fetch makes verifications fail fast (at most 5 s).
   */
  cooldownMs?: number;
  /** How long fetched keys are used before they are fetched again (default 10 min). */
  cacheMaxAgeMs?: number;
  /** Where JWKS fetch failures are reported for the operator (the caller only sees a generic message). */
  log?: Logger;
}

const DEFAULT_FETCH_TIMEOUT_MS = 5_000;
const DEFAULT_COOLDOWN_MS = 30_000;
const DEFAULT_CACHE_MAX_AGE_MS = 600_000;
const MAX_FAIL_FAST_MS = 5_000;
/** Longer strings are refused before any parsing: no identity provider issues tokens this big. */
const MAX_TOKEN_LENGTH = 16_384;
const TESSERA_ROLES: readonly string[] = ["admin", "developer", "viewer"];
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * Whether a credential has the shape of a compact JWT: three base64url segments, the first
 * decoding to a JSON header with an `alg`. Cheap, verifies nothing; API keys never match. An
 * empty signature segment matches, so `alg: none` tokens are refused as tokens, not as keys.
 */
export function looksLikeJwt(credential: string): boolean {
  if (credential.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(credential)) return false;
  try {
    return typeof decodeProtectedHeader(credential).alg === "string";
  } catch {
    return false;
  }
}

interface Issuer {
  cfg: JwtIssuerConfig;
  keys: JWTVerifyGetKey;
  options: JWTVerifyOptions;
}

/**
 * Build a verifier for the configured issuers. Each issuer gets one remote key set, created
 * here and kept: keys are cached, refetched when a token names an unknown `kid` (key rotation,
 * at most once per cooldown) and when older than the cache max age.
 */
export function createJwtVerifier(issuers: JwtIssuerConfig[], opts: JwtVerifierOptions = {}): JwtVerifier {
  const byIss = new Map<string, Issuer>();
  for (const cfg of issuers) {
    if (byIss.has(cfg.issuer)) throw new ConfigError(`authz.jwt.issuers: issuer "${cfg.issuer}" is listed twice; keep one entry per issuer.`);
    byIss.set(cfg.issuer, {
      cfg,
      keys: keySource(cfg, opts),
      options: {
        issuer: cfg.issuer,
        audience: cfg.audience,
        algorithms: cfg.algorithms,
        clockTolerance: cfg.clock_tolerance_s,
        requiredClaims: ["exp", "sub"],
      },
    });
  }
  return {
    async verify(token) {
      const issuer = byIss.get(unverifiedIssuer(token));
      if (!issuer)
        throw unauthenticated("unknown_issuer", "The bearer token's issuer (iss) is not one this gateway trusts. Use a token from a configured issuer (authz.jwt.issuers), or an API key.");
      let payload: JWTPayload;
      try {
        payload = (await verifyWithKeys(token, issuer)).payload;
      } catch (err) {
        throw toAuthError(err, issuer.cfg);
      }
      return toIdentity(payload, issuer.cfg);
    },
  };
}

/** The `iss` of a token, unverified, only to pick the issuer; "" when there is none. */
function unverifiedIssuer(token: string): string {
  if (token.length > MAX_TOKEN_LENGTH) throw malformed();
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
  } catch {
    throw malformed();
  }
  return typeof payload.iss === "string" ? payload.iss : "";
}

/**
 * jwtVerify, plus the case of a token without `kid` when several published keys fit: each
 * candidate is tried, as jose documents for {@link errors.JWKSMultipleMatchingKeys}.
 */
async function verifyWithKeys(token: string, issuer: Issuer): Promise<JWTVerifyResult> {
  try {
    return await jwtVerify(token, issuer.keys, issuer.options);
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const key of err) {
      try {
        return await jwtVerify(token, key, issuer.options);
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/**
 * The issuer's keys: jose's remote key set, with fetch failures turned into `jwks_unavailable`
 * and, after a failure, a short fail-fast window so an unreachable issuer is not fetched on
 * every request.
 */
function keySource(cfg: JwtIssuerConfig, opts: JwtVerifierOptions): JWTVerifyGetKey {
  const cooldownMs = opts.cooldownMs ?? DEFAULT_COOLDOWN_MS;
  const failFastMs = Math.min(cooldownMs, MAX_FAIL_FAST_MS);
  const remote: RemoteJWKSet = createRemoteJWKSet(new URL(cfg.jwks_uri), {
    timeoutDuration: opts.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    cooldownDuration: cooldownMs,
    cacheMaxAge: opts.cacheMaxAgeMs ?? DEFAULT_CACHE_MAX_AGE_MS,
  });
  let failedAt = Number.NEGATIVE_INFINITY;
  return async (header, token) => {
    if (!remote.fresh && Date.now() - failedAt < failFastMs) throw jwksUnavailable(failFastMs);
    try {
      return await remote(header, token);
    } catch (err) {
      if (isTokenSideKeyError(err)) throw err;
      failedAt = Date.now();
      opts.log?.warn({ issuer: cfg.issuer, jwks_uri: cfg.jwks_uri, err: describe(err) }, "jwt: could not fetch the issuer's signing keys");
      throw jwksUnavailable(failFastMs);
    }
  };
}

/** Key-lookup failures caused by the token (no or several matching keys), not by the issuer. */
function isTokenSideKeyError(err: unknown): boolean {
  return err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return `${err.message}${cause}`;
}

/** Map a verification failure to a caller-safe error; jose's own messages are never passed on. */
function toAuthError(err: unknown, cfg: JwtIssuerConfig): unknown {
  if (err instanceof TesseraError) return err;
  if (err instanceof errors.JWTExpired)
    return unauthenticated("token_expired", "The bearer token has expired. Get a fresh token from your identity provider and retry.");
  if (err instanceof errors.JWTClaimValidationFailed) return claimError(err.claim, err.reason, cfg);
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey)
    return unauthenticated(
      "invalid_token",
      "The bearer token's signature did not verify against its issuer's published keys. Get a fresh token from your identity provider, or use an API key.",
    );
  if (err instanceof errors.JOSEAlgNotAllowed)
    return unauthenticated(
      "invalid_token",
      `The bearer token is signed with an algorithm this gateway does not accept from its issuer (accepted: ${cfg.algorithms.join(", ")}). Use a token as your identity provider issues it.`,
    );
  if (err instanceof errors.JOSEError) return malformed();
  return err;
}

function claimError(claim: string, reason: string, cfg: JwtIssuerConfig): TesseraError {
  switch (claim) {
    case "nbf":
      return unauthenticated(
        "token_not_yet_valid",
        "The bearer token is not valid yet (its nbf is in the future). Check the clock of the machine that issued it, or retry in a moment.",
      );
    case "aud":
      return unauthenticated(
        "invalid_audience",
        `The bearer token was not issued for this gateway (its audience does not match). Request a token for audience ${cfg.audience.map((a) => `"${a}"`).join(" or ")}.`,
      );
    case "iss":
      return unauthenticated("unknown_issuer", "The bearer token's issuer (iss) is not one this gateway trusts. Use a token from a configured issuer (authz.jwt.issuers), or an API key.");
    case "exp":
      return unauthenticated(
        "invalid_token",
        reason === "missing"
          ? "The bearer token has no expiry (exp claim); tokens that never expire are refused. Configure your identity provider to issue expiring tokens."
          : "The bearer token's expiry (exp claim) is not a valid time. Use a token as your identity provider issues it.",
      );
    case "sub":
      return unauthenticated("invalid_token", "The bearer token names no subject (sub claim). Use an access token from your identity provider that identifies the caller.");
    default:
      return unauthenticated("invalid_token", `The bearer token's ${claim} claim is not valid. Get a fresh token from your identity provider and retry.`);
  }
}

/** A verified payload → identity, per the issuer's claim mapping. */
function toIdentity(payload: JWTPayload, cfg: JwtIssuerConfig): JwtIdentity {
  const subject = typeof payload.sub === "string" ? payload.sub : "";
  if (!subject) throw claimError("sub", "missing", cfg);
  const tenantId = cfg.tenant ?? scalar(claimAt(payload, cfg.claims.tenant));
  if (!tenantId)
    throw unauthenticated(
      "missing_tenant_claim",
      `The bearer token has no "${cfg.claims.tenant}" claim naming its tenant. Configure your identity provider to include it, or set a fixed tenant for this issuer (authz.jwt.issuers[].tenant).`,
    );
  return {
    issuer: cfg.issuer,
    subject,
    tenantId,
    teamId: scalar(claimAt(payload, cfg.claims.team)),
    userId: scalar(claimAt(payload, cfg.claims.user)) || subject,
    roles: rolesOf(claimAt(payload, cfg.claims.roles), cfg),
    expiresAtMs: (payload.exp ?? 0) * 1000,
  };
}

/**
 * A claim by name or dot path ("realm_access.roles"). A claim whose name itself contains dots
 * (namespaced claims like "https://example.com/tenant") is found by its full name first. Only
 * own properties are followed.
 */
export function claimAt(payload: JWTPayload, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let node: unknown = payload;
  for (const part of path.split(".")) {
    if (typeof node !== "object" || node === null || Array.isArray(node) || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** A string or finite number claim as a string; anything else is "". */
function scalar(v: unknown): string {
  if (typeof v === "string") return v.trim();
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  return "";
}

/**
 * Roles claim → Tessera roles. The claim may be an array or a space- or comma-separated string.
 * With a role_map, values are mapped and unmapped ones dropped; without, values that are
 * already Tessera roles are kept. None left → the issuer's default roles.
 */
export function rolesOf(claim: unknown, cfg: Pick<JwtIssuerConfig, "role_map" | "default_roles">): string[] {
  const values =
    typeof claim === "string"
      ? claim.split(/[\s,]+/)
      : Array.isArray(claim)
        ? claim.filter((v): v is string => typeof v === "string").map((v) => v.trim())
        : [];
  const useMap = Object.keys(cfg.role_map).length > 0;
  const roles = new Set<string>();
  for (const v of values) {
    if (!v) continue;
    const role = useMap ? (Object.hasOwn(cfg.role_map, v) ? cfg.role_map[v] : undefined) : TESSERA_ROLES.includes(v) ? v : undefined;
    if (role) roles.add(role);
  }
  return roles.size ? [...roles] : [...cfg.default_roles];
}

function unauthenticated(code: string, message: string): TesseraError {
  return new TesseraError("unauthenticated", message, { code });
}

function malformed(): TesseraError {
  return unauthenticated("invalid_token", "The bearer token is not a well-formed signed JWT. Send the token exactly as your identity provider issued it, or use an API key.");
}

function jwksUnavailable(retryMs: number): TesseraError {
  return new TesseraError(
    "unavailable",
    "The signing keys of the bearer token's issuer could not be fetched, so the token cannot be checked. Retry shortly; if this persists, the operator should check the issuer's jwks_uri is reachable.",
    { code: "jwks_unavailable", retryAfterS: Math.max(1, Math.ceil(retryMs / 1000)) },
  );
}
