import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { detectSecrets, isPlaceholder, SECRET_RULES, shannonEntropy } from "./secrets.js";

/**
 * Fake secrets are built here from documented shapes with a seeded generator, so no
 * real-looking secret sits in the repository verbatim for scanners to flag.
 */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (n: number, chars: string) => {
    let s = "";
    for (let i = 0; i < n; i++) s += chars[Math.floor(next() * chars.length)];
    return s;
  };
}
const rnd = generator(20240611);
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;
const B32 = UPPER + "234567";
const B64 = ALNUM + "+/";
const URLSAFE = ALNUM + "_-";
const HEX = "0123456789abcdef";
const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
const dash5 = "-----";
const pemLabel = (kind: string) => `${kind}PRIVATE KEY`;

function only(text: string) {
  const f = detectSecrets(text);
  assert.equal(f.length, 1, `expected one finding in ${JSON.stringify(text.slice(0, 80))}, got ${JSON.stringify(f)}`);
  return f[0]!;
}

/** Exactly one finding, with this rule, covering exactly `value`. */
function finds(rule: string, value: string, before = "value: ", after = " (end)") {
  const text = `${before}${value}${after}`;
  const f = only(text);
  assert.equal(f.rule, rule);
  assert.equal(f.type, "secret");
  assert.equal(text.slice(f.start, f.end), value);
  return f;
}

describe("detectSecrets: one positive per rule", () => {
  it("aws_access_key_id: AKIA/ASIA + 16 base32; AWS's documented sample scores below the default min_score", () => {
    assert.equal(finds("aws_access_key_id", "AKIA" + rnd(16, B32)).score, 0.95);
    finds("aws_access_key_id", "ASIA" + rnd(16, B32));
    finds("aws_access_key_id", "ABIA" + rnd(16, B32));
    const sample = finds("aws_access_key_id", "AKIA" + "IOSFODNN7EXAMPLE");
    assert.equal(sample.score, 0.4);
  });

  it("aws_secret_access_key: 40 base64 characters next to aws_secret / secret_access_key", () => {
    const v = rnd(40, B64);
    finds("aws_secret_access_key", v, "aws_secret_access_key = ", "\n");
    finds("aws_secret_access_key", rnd(40, B64), '{"SecretAccessKey": "', '"}');
    finds("aws_secret_access_key", rnd(40, B64), "AWS_SECRET_ACCESS_KEY=", "");
    // The same 40 characters with no AWS context are not reported.
    assert.deepEqual(detectSecrets(`checksum ${v} ok`), []);
  });

  it("GitHub tokens: ghp_, gho_, ghu_, ghs_, ghr_ + 36 and github_pat_ + 82", () => {
    finds("github_pat", "ghp_" + rnd(36, ALNUM));
    finds("github_oauth_token", "gho_" + rnd(36, ALNUM));
    finds("github_app_token", "ghu_" + rnd(36, ALNUM));
    finds("github_app_token", "ghs_" + rnd(36, ALNUM));
    finds("github_refresh_token", "ghr_" + rnd(36, ALNUM));
    finds("github_fine_grained_pat", "github_pat_" + rnd(22, ALNUM) + "_" + rnd(59, ALNUM));
    // One character short is not a token.
    assert.deepEqual(detectSecrets("ghp_" + rnd(35, ALNUM)), []);
  });

  it("gitlab_token: glpat- + 20", () => {
    finds("gitlab_token", "glpat-" + rnd(20, URLSAFE));
  });

  it("slack_token and slack_webhook_url", () => {
    finds("slack_token", `xoxb-${rnd(11, DIGITS)}-${rnd(12, DIGITS)}-${rnd(24, ALNUM)}`);
    finds("slack_token", `xoxp-${rnd(12, DIGITS)}-${rnd(12, DIGITS)}-${rnd(12, DIGITS)}-${rnd(32, HEX)}`);
    finds("slack_token", `xoxa-2-${rnd(30, ALNUM)}`);
    finds("slack_webhook_url", `https://hooks.slack.com/services/T${rnd(10, UPPER + DIGITS)}/B${rnd(10, UPPER + DIGITS)}/${rnd(24, ALNUM)}`);
  });

  it("stripe_api_key: live keys high, test keys lower", () => {
    assert.equal(finds("stripe_api_key", "sk_live_" + rnd(24, ALNUM)).score, 0.97);
    finds("stripe_api_key", "rk_live_" + rnd(24, ALNUM));
    assert.equal(finds("stripe_api_key", "sk_test_" + rnd(24, ALNUM)).score, 0.75);
  });

  it("openai_api_key: project, service-account and legacy keys", () => {
    assert.equal(finds("openai_api_key", "sk-proj-" + rnd(74, URLSAFE) + "T3BlbkFJ" + rnd(74, URLSAFE)).score, 0.99);
    finds("openai_api_key", "sk-svcacct-" + rnd(58, URLSAFE) + "T3BlbkFJ" + rnd(58, URLSAFE));
    finds("openai_api_key", "sk-" + rnd(20, ALNUM) + "T3BlbkFJ" + rnd(20, ALNUM));
    assert.equal(finds("openai_api_key", "sk-proj-" + rnd(120, URLSAFE)).score, 0.85);
  });

  it("anthropic_api_key and anthropic_admin_key", () => {
    finds("anthropic_api_key", "sk-ant-api03-" + rnd(93, URLSAFE) + "AA");
    finds("anthropic_admin_key", "sk-ant-admin01-" + rnd(93, URLSAFE) + "AA");
  });

  it("google_api_key (AIza + 35) and google_oauth_client_secret (GOCSPX-)", () => {
    finds("google_api_key", "AIza" + rnd(35, URLSAFE));
    finds("google_oauth_client_secret", "GOCSPX-" + rnd(28, URLSAFE));
  });

  it("azure_connection_string_key: the AccountKey value of a storage connection string", () => {
    const key = rnd(86, B64) + "==";
    finds("azure_connection_string_key", key, "DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=", ";EndpointSuffix=core.windows.net");
    finds("azure_connection_string_key", rnd(43, B64) + "=", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=", "");
  });

  it("twilio_api_key, sendgrid_api_key, npm_access_token, pypi_upload_token, huggingface_token", () => {
    finds("twilio_api_key", "SK" + rnd(32, HEX));
    finds("sendgrid_api_key", `SG.${rnd(22, URLSAFE)}.${rnd(43, URLSAFE)}`);
    finds("npm_access_token", "npm_" + rnd(36, ALNUM));
    finds("pypi_upload_token", "pypi-" + "AgEIcHlwaS5vcmc" + rnd(70, URLSAFE));
    finds("huggingface_token", "hf_" + rnd(34, ALNUM));
  });

  it("jwt: three segments whose header decodes to JSON with alg", () => {
    const jwt = `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url({ sub: "1234567890", name: "Jane", iat: 1516239022 })}.${rnd(43, URLSAFE)}`;
    const f = finds("jwt", jwt, "Authorization: Bearer ", "\n");
    assert.equal(f.score, 0.9);
    // Same shape, but the header has no "alg": not a JWT.
    const fake = `${b64url({ kind: "not-a-jwt-header" })}.${b64url({ sub: "1234567890", name: "Jane" })}.${rnd(43, URLSAFE)}`;
    assert.deepEqual(detectSecrets(`x ${fake} y`), []);
  });

  it("private_key: the whole block from BEGIN to END, and a truncated block", () => {
    const body = Array.from({ length: 12 }, () => rnd(64, B64)).join("\n");
    const block = `${dash5}BEGIN ${pemLabel("RSA ")}${dash5}\n${body}\n${dash5}END ${pemLabel("RSA ")}${dash5}`;
    finds("private_key", block, "here is my key:\n", "\nthanks");
    const ssh = `${dash5}BEGIN ${pemLabel("OPENSSH ")}${dash5}\n${Array.from({ length: 6 }, () => rnd(70, B64)).join("\n")}\n${dash5}END ${pemLabel("OPENSSH ")}${dash5}`;
    finds("private_key", ssh, "", "");
    const cut = `${dash5}BEGIN ${pemLabel("EC ")}${dash5}\n${rnd(64, B64)}\n${rnd(64, B64)}`;
    finds("private_key", cut, "", "\n\nand then the paste stopped");
  });

  it("uri_password: the whole URI when it carries a password (scheme://user:password@host…), for the usual databases and brokers", () => {
    for (const scheme of ["postgres", "postgresql", "mysql", "mongodb", "mongodb+srv", "redis", "rediss", "amqp", "amqps"]) {
      const uri = `${scheme}://app_user:${rnd(18, ALNUM)}@db.internal.example:5432/main?sslmode=require`;
      finds("uri_password", uri, "DATABASE_URL=", "\n");
    }
    finds("uri_password", `redis://:${rnd(20, ALNUM)}@cache:6379/0`, 'url: "', '"');
    // Trailing punctuation of the sentence is not part of the URI.
    finds("uri_password", `postgresql://etl:${rnd(16, ALNUM)}%21@10.1.4.22/analytics`, "Connect with ", ".");
    finds("uri_password", `jdbc:mysql://svc:${rnd(16, ALNUM)}@mysql-01.example.org:3306/shop`, "", "");
  });

  it("connection_string_password: Password=…; in an ADO-style string", () => {
    finds("connection_string_password", rnd(16, ALNUM) + "!", "Server=tcp:sql1.example.net,1433;Initial Catalog=shop;User ID=svc;Password=", ";Encrypt=True;");
    finds("connection_string_password", rnd(14, ALNUM), "Driver={ODBC Driver 18};Server=db;Uid=sa;Pwd={", "};");
  });

  it("generic_secret_assignment: high-entropy values assigned to key-like names, at a lower score", () => {
    const f = finds("generic_secret_assignment", rnd(32, ALNUM), 'api_key = "', '"');
    assert.equal(f.score, 0.6);
    finds("generic_secret_assignment", rnd(40, B64), '"client_secret": "', '"');
    finds("generic_secret_assignment", rnd(24, ALNUM + "!@#$%"), "DB_PASSWORD=", "\n");
    finds("generic_secret_assignment", rnd(28, URLSAFE), "auth_token: ", "\n");
  });

  it("every rule in the table has a positive above", () => {
    const ids = SECRET_RULES.map((r) => r.id).sort();
    assert.deepEqual(ids, [
      "anthropic_admin_key",
      "anthropic_api_key",
      "aws_access_key_id",
      "aws_secret_access_key",
      "azure_connection_string_key",
      "connection_string_password",
      "generic_secret_assignment",
      "github_app_token",
      "github_fine_grained_pat",
      "github_oauth_token",
      "github_pat",
      "github_refresh_token",
      "gitlab_token",
      "google_api_key",
      "google_oauth_client_secret",
      "huggingface_token",
      "jwt",
      "npm_access_token",
      "openai_api_key",
      "private_key",
      "pypi_upload_token",
      "sendgrid_api_key",
      "slack_token",
      "slack_webhook_url",
      "stripe_api_key",
      "twilio_api_key",
      "uri_password",
    ]);
  });
});

describe("detectSecrets: negatives", () => {
  it("UUIDs, git SHAs and hashes are not secrets", () => {
    const text = [
      "request id 123e4567-e89b-12d3-a456-426614174000 failed",
      "fixed in commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
      `sha256: ${rnd(64, HEX)}`,
      `see ${rnd(40, HEX)} and ${rnd(12, HEX)}`,
      "session_token = 123e4567-e89b-12d3-a456-426614174000",
    ].join("\n");
    assert.deepEqual(detectSecrets(text), []);
  });

  it("placeholders are not secrets", () => {
    const text = [
      'api_key = "your-api-key-goes-here"',
      'OPENAI_API_KEY="<API_KEY>"',
      "password = changeme",
      'secret = "xxxxxxxxxxxxxxxxxxxxxxxx"',
      "token: ${GITHUB_TOKEN}",
      "api_key = process.env.OPENAI_API_KEY",
      "secret: ${{ secrets.DEPLOY_KEY }}",
      'client_secret = "REPLACE_WITH_YOUR_CLIENT_SECRET"',
      "postgres://user:password@localhost:5432/app",
      "mysql://root:${MYSQL_PASSWORD}@db/app",
      "Server=db;Database=app;User Id=sa;Password=<password>;",
      "ghp_" + "x".repeat(36),
      `${dash5}BEGIN ${pemLabel("")}${dash5}\n...\n${dash5}END ${pemLabel("")}${dash5}`,
      `${dash5}BEGIN ${pemLabel("RSA ")}${dash5}\n${"A".repeat(64)}\n${"A".repeat(64)}\n${dash5}END ${pemLabel("RSA ")}${dash5}`,
    ].join("\n");
    assert.deepEqual(detectSecrets(text), []);
    for (const p of ["xxxx", "your-api-key", "<API_KEY>", "changeme", "${TOKEN}", "********"]) assert.ok(isPlaceholder(p), p);
    assert.ok(!isPlaceholder(rnd(24, ALNUM)));
  });

  it("key names that are not secrets: token_url, max_tokens, public_key, secret_name", () => {
    const text = [
      'token_url = "https://auth.example.com/oauth/token"',
      "max_tokens = 4096",
      `public_key: "${rnd(40, B64)}"`,
      `secret_name = "${rnd(20, ALNUM)}"`,
      'token_endpoint: "https://login.example.com/common/oauth2/v2.0/token"',
    ].join("\n");
    assert.deepEqual(detectSecrets(text), []);
  });

  it("low-entropy values and identifiers under key names are not secrets", () => {
    assert.deepEqual(detectSecrets('api_key = "aaaaaaaabbbbbbbbcccccccc"'), []);
    assert.deepEqual(detectSecrets("secret = settings.default_secret_key_name"), []);
    assert.deepEqual(detectSecrets("password = thisisnotarealsecretvalue"), []);
  });

  it("nothing inside a base64 data: URI is reported", () => {
    const inner = "AKIA" + rnd(16, B32);
    const google = "AIza" + rnd(35, ALNUM);
    // Outside a data URI these are found…
    assert.equal(detectSecrets(`/${inner}+`).length, 1);
    assert.equal(detectSecrets(`/${google}/`).length, 1);
    // …inside one (an inline image), not.
    const uri = `<img src="data:image/png;base64,${rnd(200, B64)}/${inner}+${rnd(100, B64)}/${google}/${rnd(300, B64)}==">`;
    assert.deepEqual(detectSecrets(uri), []);
    assert.deepEqual(detectSecrets(`![chart](data:image/jpeg;base64,${rnd(2000, B64)})`), []);
  });

  it("ordinary prose is clean", () => {
    const text =
      "Please ask the team to review the password policy and the token rotation schedule. " +
      "The secret to good bread is time. My API key expired yesterday, how do I rotate it? " +
      "Use sk-... style keys from the dashboard; postgres://localhost:5432/app works locally.";
    assert.deepEqual(detectSecrets(text), []);
  });
});

describe("detectSecrets: behaviour", () => {
  it("findings carry type, offsets, score and rule only (never the value)", () => {
    const f = only("token ghp_" + rnd(36, ALNUM));
    assert.deepEqual(Object.keys(f).sort(), ["end", "rule", "score", "start", "type"]);
  });

  it("overlapping rules keep the more specific finding", () => {
    // aws_secret_access_key and generic_secret_assignment both match: one finding, the AWS rule.
    const f = only(`aws_secret_access_key: "${rnd(40, B64)}"`);
    assert.equal(f.rule, "aws_secret_access_key");
    // A JWT assigned to a token variable is reported as a JWT.
    const jwt = `${b64url({ alg: "RS256", kid: "k1" })}.${b64url({ sub: "42", aud: "api", exp: 1900000000 })}.${rnd(86, URLSAFE)}`;
    assert.equal(only(`access_token = "${jwt}"`).rule, "jwt");
  });

  it("finds several secrets in one text, sorted by offset", () => {
    const text = `a=${"ghp_" + rnd(36, ALNUM)} b=${"AIza" + rnd(35, URLSAFE)} c=${"npm_" + rnd(36, ALNUM)}`;
    const f = detectSecrets(text);
    assert.deepEqual(
      f.map((x) => x.rule),
      ["github_pat", "google_api_key", "npm_access_token"],
    );
    assert.ok(f[0]!.end <= f[1]!.start && f[1]!.end <= f[2]!.start);
  });

  it("is safe and quick on huge, odd or hostile strings", () => {
    const odd = ["", "\uD800", "\uDFFF\uD800", "\u0000\u0001\u0002", "token=" + "=".repeat(10_000), "-----BEGIN ".repeat(5000)];
    for (const s of odd) assert.doesNotThrow(() => detectSecrets(s));
    const big = ("lorem ipsum token = " + rnd(8, ALNUM) + " ").repeat(40_000) + "ghp_" + rnd(36, ALNUM);
    const t0 = performance.now();
    const f = detectSecrets(big);
    assert.ok(performance.now() - t0 < 2000);
    assert.equal(f.length, 1);
    assert.equal(f[0]!.rule, "github_pat");
  });

  it("shannonEntropy", () => {
    assert.equal(shannonEntropy(""), 0);
    assert.equal(shannonEntropy("aaaa"), 0);
    assert.equal(shannonEntropy("abcd"), 2);
  });
});
