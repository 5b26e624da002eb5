import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { ConfigError, TesseraError, type JwtIssuerConfig } from "@tessera/runtime";
import { createJwtVerifier, looksLikeJwt, type JwtVerifier } from "./jwt.js";

// A local OIDC-like issuer: JWKS documents served per path, with request counts.

type Route = { keys: JWK[] } | "error" | "hang";
const routes = new Map<string, Route>();
const hits = new Map<string, number>();
let server: Server;
let base = "";

interface SigningKey {
  kid: string;
  alg: "RS256" | "ES256";
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string, alg: "RS256" | "ES256" = "RS256"): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey, publicKey, jwk };
}

const ISS = "https://idp.test/realms/main";
const FIXED_ISS = "https://idp.test/realms/fixed";
const MAPPED_ISS = "https://idp.test/realms/mapped";
const ES_ISS = "https://idp.test/realms/ec";
const AUD = "tessera";

let rsA: SigningKey;
let rsB: SigningKey;
let esA: SigningKey;
let esB: SigningKey;
let verifier: JwtVerifier;

/** An issuer config as the schema would produce it, with overrides. */
function issuer(over: Partial<JwtIssuerConfig> & Pick<JwtIssuerConfig, "issuer" | "jwks_uri">): JwtIssuerConfig {
  return {
    audience: [AUD],
    algorithms: ["RS256", "ES256"],
    clock_tolerance_s: 30,
    claims: { tenant: "tenant", team: "team", user: "sub", roles: "roles" },
    role_map: {},
    default_roles: ["developer"],
    ...over,
  };
}

const nowS = () => Math.floor(Date.now() / 1000);

/** A signed token; claims default to a valid one for ISS. `exp: undefined` drops exp. */
async function token(key: SigningKey, claims: JWTPayload = {}, header: { kid?: string | undefined } = { kid: key.kid }): Promise<string> {
  const payload: JWTPayload = { iss: ISS, aud: AUD, sub: "user-1", tenant: "acme", iat: nowS(), exp: nowS() + 300, ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  const h = header.kid === undefined ? { alg: key.alg } : { alg: key.alg, kid: header.kid };
  return new SignJWT(payload).setProtectedHeader(h).sign(key.privateKey);
}

function segments(tok: string): string[] {
  return [tok, ...tok.split(".")].filter((s) => s.length >= 8);
}

/** Assert verification fails with this kind and code, and the message shows no part of the token. */
async function rejects(v: JwtVerifier, tok: string, code: string, kind = "unauthenticated"): Promise<TesseraError> {
  let caught: unknown;
  try {
    await v.verify(tok);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof TesseraError, `expected a TesseraError, got ${String(caught)}`);
  assert.equal(caught.kind, kind);
  assert.equal(caught.details.code, code);
  for (const s of segments(tok)) assert.ok(!caught.message.includes(s), `message leaks part of the token: ${caught.message}`);
  return caught;
}

before(async () => {
  [rsA, rsB, esA, esB] = await Promise.all([signingKey("rs-a"), signingKey("rs-b"), signingKey("es-a", "ES256"), signingKey("es-b", "ES256")]);
  server = createServer((req, res) => {
    const path = req.url ?? "";
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes.get(path);
    if (route === "hang") return; // never answers
    if (!route || route === "error") {
      res.writeHead(route ? 500 : 404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/jwk-set+json" }).end(JSON.stringify({ keys: route.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  routes.set("/main/jwks.json", { keys: [rsA.jwk] });
  routes.set("/ec/jwks.json", { keys: [esA.jwk, esB.jwk] });
  verifier = createJwtVerifier([
    issuer({ issuer: ISS, jwks_uri: `${base}/main/jwks.json` }),
    issuer({ issuer: FIXED_ISS, jwks_uri: `${base}/main/jwks.json`, tenant: "fixed-co", claims: { tenant: "tenant", team: "groups.team", user: "email", roles: "scope" } }),
    issuer({
      issuer: MAPPED_ISS,
      jwks_uri: `${base}/main/jwks.json`,
      claims: { tenant: "https://tessera.dev/tenant", team: "team", user: "preferred_username", roles: "realm_access.roles" },
      role_map: { "gw-admin": "admin", "gw-user": "developer" },
      default_roles: ["viewer"],
    }),
    issuer({ issuer: ES_ISS, jwks_uri: `${base}/ec/jwks.json`, algorithms: ["ES256"] }),
  ]);
});

after(() => {
  server.closeAllConnections();
  server.close();
});

// --- shape ---

test("looksLikeJwt: tokens match, API keys and junk do not", async () => {
  assert.equal(looksLikeJwt(await token(rsA)), true);
  assert.equal(looksLikeJwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), true, "alg none (empty signature) is still a token");
  for (const s of ["tsk_live_0123456789abcdef", "sk-abc.def", "a.b.c", "eyJ.eyJ.x", "eyJhbGciOiJSUzI1NiJ9.e30", "eyJhbGciOiJSUzI1NiJ9..sig", "", "x".repeat(20_000)])
    assert.equal(looksLikeJwt(s), false, s.slice(0, 40));
});

// --- valid tokens ---

test("a valid RS256 token → identity, tenant and team from claims, roles from an array", async () => {
  const exp = nowS() + 600;
  const id = await verifier.verify(await token(rsA, { team: "search", roles: ["admin", "viewer", "bogus", "admin"], exp }));
  assert.deepEqual(id, { issuer: ISS, subject: "user-1", tenantId: "acme", teamId: "search", userId: "user-1", roles: ["admin", "viewer"], expiresAtMs: exp * 1000 });
});

test("roles from a space- or comma-separated string; none usable → default roles", async () => {
  assert.deepEqual((await verifier.verify(await token(rsA, { roles: "developer viewer" }))).roles, ["developer", "viewer"]);
  assert.deepEqual((await verifier.verify(await token(rsA, { roles: "admin,viewer" }))).roles, ["admin", "viewer"]);
  assert.deepEqual((await verifier.verify(await token(rsA, { roles: ["owner"] }))).roles, ["developer"]);
  assert.deepEqual((await verifier.verify(await token(rsA, { roles: undefined }))).roles, ["developer"]);
});

test("a fixed-tenant issuer ignores the token's tenant; nested team path; user claim", async () => {
  const id = await verifier.verify(
    await token(rsA, { iss: FIXED_ISS, tenant: "evil-co", groups: { team: "ml" }, email: "ada@example.com", scope: "openid viewer" }),
  );
  assert.equal(id.tenantId, "fixed-co");
  assert.equal(id.teamId, "ml");
  assert.equal(id.userId, "ada@example.com");
  assert.deepEqual(id.roles, ["viewer"]);
  assert.equal((await verifier.verify(await token(rsA, { iss: FIXED_ISS, tenant: undefined }))).userId, "user-1", "user falls back to sub");
});

test("role_map with a nested roles claim (realm_access.roles) and a namespaced tenant claim", async () => {
  const claims = { iss: MAPPED_ISS, tenant: undefined, "https://tessera.dev/tenant": "beta", preferred_username: "ada" };
  const id = await verifier.verify(await token(rsA, { ...claims, realm_access: { roles: ["gw-admin", "offline_access", "admin"] } }));
  assert.equal(id.tenantId, "beta");
  assert.equal(id.userId, "ada");
  assert.deepEqual(id.roles, ["admin"], "mapped; unmapped values (even Tessera role names) dropped");
  const none = await verifier.verify(await token(rsA, { ...claims, realm_access: { roles: ["offline_access"] } }));
  assert.deepEqual(none.roles, ["viewer"], "the issuer's default roles");
});

test("an ES256 issuer; a token without kid is tried against each fitting key", async () => {
  const id = await verifier.verify(await token(esA, { iss: ES_ISS }));
  assert.equal(id.issuer, ES_ISS);
  const noKid = await verifier.verify(await token(esB, { iss: ES_ISS }, { kid: undefined }));
  assert.equal(noKid.subject, "user-1");
  await rejects(verifier, await token(rsA, { iss: ES_ISS }), "invalid_token"); // RS256 not allowed for this issuer
});

// --- time ---

test("expired → token_expired; within the clock tolerance → accepted", async () => {
  await rejects(verifier, await token(rsA, { iat: nowS() - 600, exp: nowS() - 120 }), "token_expired");
  const id = await verifier.verify(await token(rsA, { iat: nowS() - 600, exp: nowS() - 10 }));
  assert.equal(id.tenantId, "acme");
});

test("nbf in the future → token_not_yet_valid; slightly ahead → accepted", async () => {
  await rejects(verifier, await token(rsA, { nbf: nowS() + 300 }), "token_not_yet_valid");
  assert.equal((await verifier.verify(await token(rsA, { nbf: nowS() + 10 }))).subject, "user-1");
});

test("a token without exp is refused", async () => {
  await rejects(verifier, await token(rsA, { exp: undefined }), "invalid_token");
});

// --- who issued it, for whom ---

test("wrong audience → invalid_audience, naming the accepted one", async () => {
  const err = await rejects(verifier, await token(rsA, { aud: "someone-else" }), "invalid_audience");
  assert.match(err.message, /"tessera"/);
});

test("an unknown or missing issuer → unknown_issuer", async () => {
  await rejects(verifier, await token(rsA, { iss: "https://evil.test/" }), "unknown_issuer");
  await rejects(verifier, await token(rsA, { iss: undefined }), "unknown_issuer");
});

test("missing tenant claim → missing_tenant_claim naming the claim", async () => {
  const err = await rejects(verifier, await token(rsA, { tenant: undefined }), "missing_tenant_claim");
  assert.match(err.message, /"tenant"/);
});

// --- forgeries ---

test("signed by another key under a published kid → invalid_token", async () => {
  const impostor = await signingKey(rsA.kid);
  const err = await rejects(verifier, await token(impostor), "invalid_token");
  assert.match(err.message, /signature did not verify/);
});

test("alg: none, crafted by hand → invalid_token", async () => {
  const enc = (o: object) => base64url.encode(JSON.stringify(o));
  const none = `${enc({ alg: "none", typ: "JWT" })}.${enc({ iss: ISS, aud: AUD, sub: "admin", tenant: "acme", roles: ["admin"], exp: nowS() + 300 })}.`;
  await rejects(verifier, none, "invalid_token");
  await rejects(verifier, `${enc({ alg: "none", kid: rsA.kid })}.${enc({ iss: ISS, aud: AUD, sub: "x", tenant: "acme", exp: nowS() + 300 })}.c2ln`, "invalid_token");
});

test("HS256 signed with the public key's bytes as the secret → invalid_token", async () => {
  const secret = new TextEncoder().encode(await exportSPKI(rsA.publicKey));
  const payload = { iss: ISS, aud: AUD, sub: "admin", tenant: "acme", roles: ["admin"], exp: nowS() + 300 };
  const hs = await new SignJWT(payload).setProtectedHeader({ alg: "HS256", kid: rsA.kid }).sign(secret);
  await rejects(verifier, hs, "invalid_token");
  const jwkBytes = new TextEncoder().encode(JSON.stringify(rsA.jwk));
  await rejects(verifier, await new SignJWT(payload).setProtectedHeader({ alg: "HS256" }).sign(jwkBytes), "invalid_token");
});

test("malformed strings → invalid_token", async () => {
  const good = await token(rsA);
  const [h, p] = good.split(".");
  for (const s of ["a.b.c", "eyJhbGciOiJSUzI1NiJ9.eyJnYXJiYWdl.!!!", "eyJhbGciOi.eyJpc3Mi.xyz", `${h}.${p}`, `${h}.${p}.${"A".repeat(10)}`, `${h}.${p}.x.y.z`, "not-a-jwt", `${h}.${p}.${"A".repeat(20_000)}`])
    await rejects(verifier, s, "invalid_token");
});

// --- keys: rotation, caching, outages ---

test("key rotation: a new kid is fetched once, then cached; unknown kids within the cooldown are not refetched", async () => {
  const path = "/rotating/jwks.json";
  routes.set(path, { keys: [rsA.jwk] });
  const [tokA, tokB, unknown] = await Promise.all([token(rsA), token(rsB), signingKey("rs-c").then((k) => token(k))]);
  const v = createJwtVerifier([issuer({ issuer: ISS, jwks_uri: `${base}${path}` })], { cooldownMs: 300, cacheMaxAgeMs: 60_000, fetchTimeoutMs: 1_000 });
  await v.verify(tokA);
  await v.verify(tokA);
  assert.equal(hits.get(path), 1, "cached between verifications");

  await rejects(v, tokB, "invalid_token"); // B is not published yet: refetch is within the cooldown
  assert.equal(hits.get(path), 1);

  routes.set(path, { keys: [rsA.jwk, rsB.jwk] }); // the issuer rotates: publishes A and B
  await new Promise((r) => setTimeout(r, 350)); // past the cooldown
  assert.equal((await v.verify(tokB)).subject, "user-1", "unknown kid → refetch → verified");
  assert.equal(hits.get(path), 2);
  await v.verify(tokB);
  await v.verify(tokA);
  await rejects(v, unknown, "invalid_token");
  await rejects(v, unknown, "invalid_token");
  assert.equal(hits.get(path), 2, "no refetch within the cooldown, however many unknown kids");
});

test("JWKS server down → unavailable / jwks_unavailable", async () => {
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, "127.0.0.1", resolve));
  const port = (dead.address() as AddressInfo).port;
  await new Promise<void>((resolve) => dead.close(() => resolve()));
  const v = createJwtVerifier([issuer({ issuer: ISS, jwks_uri: `http://127.0.0.1:${port}/jwks.json` })], { fetchTimeoutMs: 500 });
  const err = await rejects(v, await token(rsA), "jwks_unavailable", "unavailable");
  assert.ok((err.details.retryAfterS ?? 0) >= 1);
});

test("JWKS endpoint erroring or hanging → jwks_unavailable, then fail fast instead of refetching", async () => {
  routes.set("/error/jwks.json", "error");
  routes.set("/hang/jwks.json", "hang");
  const v = createJwtVerifier(
    [issuer({ issuer: ISS, jwks_uri: `${base}/error/jwks.json` }), issuer({ issuer: ES_ISS, jwks_uri: `${base}/hang/jwks.json` })],
    { fetchTimeoutMs: 200, cooldownMs: 1_000 },
  );
  await rejects(v, await token(rsA), "jwks_unavailable", "unavailable");
  const started = Date.now();
  await rejects(v, await token(esA, { iss: ES_ISS }), "jwks_unavailable", "unavailable");
  assert.ok(Date.now() - started < 2_000, "bounded by the fetch timeout");
  await rejects(v, await token(esA, { iss: ES_ISS }), "jwks_unavailable", "unavailable");
  await rejects(v, await token(rsA), "jwks_unavailable", "unavailable");
  assert.equal(hits.get("/hang/jwks.json"), 1, "failed recently: not fetched again");
  assert.equal(hits.get("/error/jwks.json"), 1);
});

test("the same issuer listed twice is a configuration error", () => {
  const cfg = issuer({ issuer: ISS, jwks_uri: `${base}/main/jwks.json` });
  assert.throws(() => createJwtVerifier([cfg, cfg]), ConfigError);
});
