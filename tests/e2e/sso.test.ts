import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import OpenAI from "openai";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { startTestGateway } from "../helpers/gateway.js";
import { adminClient, OPERATOR_ENV, OPERATOR_TOKEN, openai } from "../helpers/tenants.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

/**
 * SSO through the front door: bearer JWTs from a local OIDC-like issuer (a JWKS endpoint on
 * loopback) are verified by authz and mapped to tenant, team and roles; forged and stale
 * tokens answer 401 in OpenAI's format, never echoing the token.
 */
describe("SSO bearer tokens (JWT / JWKS), all-in-one, official openai SDK", () => {
  let g: Gateway;
  let jwks: Server;
  let issuerUrl = "";
  let key: CryptoKey;
  let other: CryptoKey;
  const kid = "k1";
  const tenant = `sso-${Math.random().toString(36).slice(2, 8)}`;

  before(async () => {
    const pair = await generateKeyPair("RS256", { extractable: true });
    key = pair.privateKey as CryptoKey;
    other = (await generateKeyPair("RS256")).privateKey as CryptoKey;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid, alg: "RS256", use: "sig" };
    jwks = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
    issuerUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}`;
    process.env[OPERATOR_ENV] = OPERATOR_TOKEN;
    g = await startTestGateway({
      authz: `{ store: { kind: pglite, path: "" }, admin_token_env: ${OPERATOR_ENV}, max_failed_auth_per_minute: 1000,
        jwt: { issuers: [{ issuer: "${issuerUrl}", jwks_uri: "${issuerUrl}/jwks.json", audience: [tessera], claims: { tenant: org, roles: groups }, role_map: { eng: developer, audit: viewer } }] } }`,
    });
    const op = adminClient(g.url, OPERATOR_TOKEN);
    await op.createTenant({ id: tenant });
    await op.createTeam({ tenantId: tenant, id: "core", modelsAllow: ["demo", "gpt-*"] });
  });
  after(async () => {
    await g.stop();
    jwks.close();
  });

  const token = (claims: Record<string, unknown>, opts: { signWith?: CryptoKey; exp?: string | number; aud?: string; kid?: string } = {}) =>
    new SignJWT({ org: tenant, team: "core", groups: ["eng"], ...claims })
      .setProtectedHeader({ alg: "RS256", kid: opts.kid ?? kid })
      .setIssuer(issuerUrl)
      .setSubject("alice")
      .setAudience(opts.aud ?? "tessera")
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? "5m")
      .sign(opts.signWith ?? key);

  async function refused(t: string, status: number, code: string) {
    const err = await openai(g.url, t).chat.completions.create({ model: "demo", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIError, String(err));
    assert.equal(err.status, status);
    assert.equal(err.code, code);
    assert.ok(!err.message.includes(t) && !err.message.includes(t.split(".")[1]!), "the token is not echoed");
  }

  test("a valid token calls models as its tenant, team and mapped role; the team's allow-list applies", async () => {
    const c = openai(g.url, await token({}));
    const res = await c.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "hi" }] });
    assert.equal(res.choices[0]!.message.content, "hi");
    const who = await adminClient(g.url, await token({})).whoAmI({});
    assert.deepEqual([who.tenantId, who.teamId, who.keyId, who.roles], [tenant, "core", "jwt:alice", ["developer"]]);
    const err = await c.chat.completions.create({ model: "with-fallback", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.PermissionDeniedError);
    assert.equal(err.code, "model_not_allowed");
  });

  test("a token whose groups map to viewer may list models but not call them", async () => {
    const t = await token({ groups: ["audit"] });
    assert.ok((await openai(g.url, t).models.list()).data.some((m) => m.id === "demo"));
    await refused(t, 403, "role_not_allowed");
  });

  test("forged and stale tokens: 401 with a precise code", async () => {
    await refused(await token({}, { exp: Math.floor(Date.now() / 1000) - 120 }), 401, "token_expired");
    await refused(await token({}, { aud: "someone-else" }), 401, "invalid_audience");
    await refused(await token({}, { signWith: other }), 401, "invalid_token");
    const body = Buffer.from(JSON.stringify({ iss: issuerUrl, sub: "alice", aud: "tessera", org: tenant, exp: Math.floor(Date.now() / 1000) + 300 })).toString("base64url");
    await refused(`${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${body}.`, 401, "invalid_token");
    const unknownIssuer = `${Buffer.from('{"alg":"RS256","kid":"k1"}').toString("base64url")}.${Buffer.from(JSON.stringify({ iss: "https://evil.example", sub: "x", aud: "tessera", exp: 9e9 })).toString("base64url")}.c2ln`;
    await refused(unknownIssuer, 401, "unknown_issuer");
  });
});
