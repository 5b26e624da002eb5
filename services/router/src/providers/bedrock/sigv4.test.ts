import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { ProviderError } from "../errors.js";
import { createSigV4Signer } from "./sigv4.js";
import { canonicalQuery, canonicalRequest, canonicalUri, sha256Hex, signature, signingKey, uriEncode, verifySigV4, type SigV4Expectation, type SigV4Request } from "./sigv4-verifier.js";
import { FAKE_AWS_CREDENTIALS, FAKE_AWS_SESSION_CREDENTIALS } from "./fake.js";

// AWS's documentation key pair and the Signature Version 4 test suite's fixed time and scope.
const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE: SigV4Expectation = { region: "us-east-1", service: "service", identities: [{ accessKeyId: "AKIDEXAMPLE", secretAccessKey: SECRET }], now: new Date("2015-08-30T12:36:00Z") };
const SUITE_HEADERS = { host: "example.amazonaws.com", "x-amz-date": "20150830T123600Z" };

function suiteRequest(method: string, rawPath: string, sig: string): SigV4Request {
  return {
    method,
    rawPath,
    body: new Uint8Array(),
    headers: { ...SUITE_HEADERS, authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${sig}` },
  };
}

test("verifier: the signing key derivation gives the IAM guide's worked-example key", () => {
  assert.equal(signingKey(SECRET, "20150830", "us-east-1", "iam").toString("hex"), "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
  // …and that key signs the worked example's string to sign to its published signature.
  const stringToSign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
  assert.equal(
    createHmac("sha256", signingKey(SECRET, "20150830", "us-east-1", "iam")).update(stringToSign).digest("hex"),
    "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
  );
});

const VECTORS = [
  { name: "get-vanilla", method: "GET", path: "/", sig: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" },
  { name: "post-vanilla", method: "POST", path: "/", sig: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b" },
  { name: "get-vanilla-query-order-key-case", method: "GET", path: "/?Param2=value2&Param1=value1", sig: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500" },
];
for (const v of VECTORS)
  test(`verifier: the SigV4 test suite's ${v.name} signature is computed and accepted`, () => {
    const req = suiteRequest(v.method, v.path, v.sig);
    const canonical = canonicalRequest(req, ["host", "x-amz-date"], sha256Hex(""))!;
    assert.equal(signature(canonical, "20150830T123600Z", { date: "20150830", region: "us-east-1", service: "service" }, SECRET), v.sig);
    assert.deepEqual(verifySigV4(req, SUITE), { ok: true, accessKeyId: "AKIDEXAMPLE" });
  });

test("verifier: canonical forms — unreserved characters kept, the path encoded once more, the query sorted", () => {
  assert.equal(uriEncode("a-b_c.d~e f/g:h"), "a-b_c.d~e%20f%2Fg%3Ah");
  assert.equal(canonicalUri("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"), "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse");
  assert.equal(canonicalUri("/"), "/");
  assert.equal(canonicalQuery("/x?b=2&a=%20&A=0"), "A=0&a=%20&b=2");
  assert.equal(canonicalQuery("/x"), "");
});

test("verifier: refusals carry AWS's error types", () => {
  const good = suiteRequest("GET", "/", VECTORS[0]!.sig);
  const cases: [SigV4Request, Partial<SigV4Expectation>, number, string][] = [
    [{ ...good, headers: { ...SUITE_HEADERS } }, {}, 403, "MissingAuthenticationTokenException"],
    [{ ...good, headers: { ...good.headers, authorization: "Bearer abc" } }, {}, 400, "IncompleteSignatureException"],
    [suiteRequest("GET", "/", "0".repeat(64)), {}, 403, "InvalidSignatureException"],
    [suiteRequest("GET", "/other", VECTORS[0]!.sig), {}, 403, "InvalidSignatureException"],
    [good, { identities: [{ accessKeyId: "AKIDOTHER", secretAccessKey: SECRET }] }, 403, "UnrecognizedClientException"],
    [good, { region: "eu-west-1" }, 403, "InvalidSignatureException"],
    [good, { service: "bedrock" }, 403, "InvalidSignatureException"],
    [good, { now: new Date("2015-08-30T13:00:00Z") }, 403, "InvalidSignatureException"],
    [good, { identities: [{ accessKeyId: "AKIDEXAMPLE", secretAccessKey: SECRET, sessionToken: "tok" }] }, 403, "UnrecognizedClientException"],
  ];
  for (const [req, over, status, type] of cases) {
    const v = verifySigV4(req, { ...SUITE, ...over });
    assert.equal(v.ok, false);
    if (!v.ok) {
      assert.equal(v.status, status, type);
      assert.equal(v.errorType, type);
    }
  }
});

/** Sign with the library signer, then hand the request to the independent verifier. */
async function signAndVerify(creds: typeof FAKE_AWS_CREDENTIALS, path: string, body: string, tamper?: (r: SigV4Request) => void) {
  const sign = createSigV4Signer({ id: "bedrock-test", credentials: creds, region: "us-east-1" });
  const headers = { "content-type": "application/json", accept: "application/json" };
  const added = await sign({ method: "POST", origin: "https://bedrock-runtime.us-east-1.amazonaws.com", path, headers, body });
  const req: SigV4Request = { method: "POST", rawPath: path, headers: { ...headers, ...added }, body: Buffer.from(body) };
  tamper?.(req);
  return { added, verdict: verifySigV4(req, { region: "us-east-1", service: "bedrock", identities: [FAKE_AWS_CREDENTIALS, FAKE_AWS_SESSION_CREDENTIALS] }) };
}

test("signer: a Converse request with a ':' in the model id is signed so the independent verifier accepts it", async () => {
  const { added, verdict } = await signAndVerify(FAKE_AWS_CREDENTIALS, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", '{"messages":[]}');
  assert.deepEqual(verdict, { ok: true, accessKeyId: "AKIDEXAMPLE" });
  assert.equal(added["host"], "bedrock-runtime.us-east-1.amazonaws.com");
  assert.match(added["x-amz-date"]!, /^\d{8}T\d{6}Z$/);
  assert.equal(added["x-amz-content-sha256"], sha256Hex('{"messages":[]}'));
  assert.match(added["authorization"]!, /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=accept;content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/);
  assert.equal(added["x-amz-security-token"], undefined);
});

test("signer: temporary credentials send and sign the session token", async () => {
  const { added, verdict } = await signAndVerify(FAKE_AWS_SESSION_CREDENTIALS, "/model/amazon.titan-embed-text-v2%3A0/invoke", '{"inputText":"hi"}');
  assert.equal(verdict.ok, true);
  assert.equal(added["x-amz-security-token"], FAKE_AWS_SESSION_CREDENTIALS.sessionToken);
  assert.match(added["authorization"]!, /SignedHeaders=[^,]*x-amz-security-token/);
});

test("signer: a changed body, path or header after signing no longer verifies", async () => {
  const path = "/model/m%3A0/converse";
  for (const tamper of [
    (r: SigV4Request) => void (r.body = Buffer.from('{"messages":[1]}')),
    (r: SigV4Request) => void (r.rawPath = "/model/m%3A1/converse"),
    (r: SigV4Request) => void (r.headers["content-type"] = "text/plain"),
  ]) {
    const { verdict } = await signAndVerify(FAKE_AWS_CREDENTIALS, path, '{"messages":[]}', tamper);
    assert.equal(verdict.ok, false);
  }
});

test("signer: a signature made with the wrong secret is InvalidSignatureException", async () => {
  const { verdict } = await signAndVerify({ accessKeyId: FAKE_AWS_CREDENTIALS.accessKeyId, secretAccessKey: "not-the-secret" }, "/model/m/converse", "{}");
  assert.deepEqual(verdict.ok ? undefined : [verdict.status, verdict.errorType], [403, "InvalidSignatureException"]);
});

test("signer: a signing failure is a ProviderError that names neither key", async () => {
  const sign = createSigV4Signer({ id: "bedrock-test", credentials: { accessKeyId: "AKIDLEAKCHECK", secretAccessKey: undefined as unknown as string }, region: "us-east-1" });
  await assert.rejects(sign({ method: "POST", origin: "https://h.example", path: "/", headers: {}, body: "" }), (err: unknown) => {
    assert.ok(err instanceof ProviderError);
    assert.equal(err.details.code, "upstream_auth");
    assert.doesNotMatch(err.message, /AKIDLEAKCHECK/);
    return true;
  });
});
