import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, parseConfig, sha256Hex, DEFAULT_CONFIG_PATH } from "./index.js";

function fails(yaml: string, pattern: RegExp, env: NodeJS.ProcessEnv = {}) {
  assert.throws(() => parseConfig(yaml, "t.yaml", env), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, pattern);
    assert.match(err.message, /^t\.yaml: /);
    return true;
  });
}

test("the shipped default configuration is valid and serves the demo model on 8080", () => {
  const cfg = loadConfig(DEFAULT_CONFIG_PATH, {});
  assert.equal(cfg.server.port, 8080);
  assert.ok(cfg.models.some((m) => m.name === "demo"));
  assert.equal(cfg.apiKeys[0]!.keySha256, sha256Hex("tessera-demo-key"));
  assert.equal(cfg.providers.find((p) => p.id === "openai")!.apiKey, undefined);
});

test("a provider key comes from the environment, never the file", () => {
  const cfg = loadConfig(DEFAULT_CONFIG_PATH, { OPENAI_API_KEY: "sk-x" });
  assert.equal(cfg.providers.find((p) => p.id === "openai")!.apiKey, "sk-x");
});

test("TESSERA_PORT and TESSERA_CONFIG are honoured, and a bad port is named", () => {
  const dir = mkdtempSync(join(tmpdir(), "cfg-"));
  const file = join(dir, "c.yaml");
  writeFileSync(file, "server: { port: 9999 }\n");
  assert.equal(loadConfig(DEFAULT_CONFIG_PATH, { TESSERA_CONFIG: file }).server.port, 9999);
  assert.equal(loadConfig(DEFAULT_CONFIG_PATH, { TESSERA_CONFIG: file, TESSERA_PORT: "7777" }).server.port, 7777);
  assert.throws(() => loadConfig(DEFAULT_CONFIG_PATH, { TESSERA_CONFIG: file, TESSERA_PORT: "eighty" }), /TESSERA_PORT: "eighty" is not a port/);
  assert.throws(() => loadConfig(DEFAULT_CONFIG_PATH, { TESSERA_CONFIG: join(dir, "missing.yaml") }), /cannot read configuration file .*missing\.yaml: ENOENT; set TESSERA_CONFIG/);
});

test("errors name the field and say what is wrong", () => {
  fails("server: { port: 70000 }", /server\.port: /);
  fails("server: { prot: 1 }", /server: Unrecognized key: "prot"/i);
  fails("providers: [{ id: x, kind: nope }]", /providers\.0\.kind: /);
  fails("providers: [{ id: x, kind: openai_compatible }]", /providers\.0\.base_url: required for kind openai_compatible/);
  fails("providers: [{ id: x, kind: azure, base_url: 'https://r.openai.azure.com' }]", /providers\.0\.api_version: required for kind azure/);
  fails("providers: [{ id: x, kind: bedrock }]", /providers\.0\.region: required for kind bedrock/);
  fails("providers: [{ id: x, kind: demo }, { id: x, kind: demo }]", /providers\.1\.id: duplicate provider id x/);
  fails(
    "providers: [{ id: d, kind: demo }]\nmodels: [{ name: m, deployments: [{ provider: d, model: a }], routes: [{ when: { tenants: [t] }, deployments: [d/b] }] }]",
    /models\.0\.routes\.0\.deployments\.0: "d\/b" is not a deployment of m \(one of: d\/a\)/,
  );
  fails("providers: [{ id: d, kind: demo }]\nmodels: [{ name: m, strategy: weighted, deployments: [{ provider: d, model: a, weight: 0 }] }]", /weighted strategy needs at least one weight above 0/);
  fails("routing: { retries: 99 }", /routing\.retries: /);
  fails("models: [{ name: m, deployments: [{ provider: ghost, model: x }] }]", /models\.0\.deployments\.0\.provider: unknown provider "ghost"/);
  fails("api_keys: [{ id: k, tenant: t, key_sha256: abc }]", /api_keys\.0\.key_sha256: must be the 64-character/);
  fails("api_keys: [{ id: k, tenant: t }]", /api_keys\.0: give exactly one of key_sha256 or key_env/);
  fails("api_keys: [{ id: k, tenant: t, key_env: NOT_SET }]", /api_keys\.0\.key_env: environment variable NOT_SET is not set/);
  fails("server: [", /not valid YAML/);
});

test("providers get their public base URL by default; Bedrock is off without AWS credentials", () => {
  const cfg = parseConfig(
    "providers: [{ id: o, kind: openai }, { id: a, kind: anthropic }, { id: g, kind: gemini }, { id: b, kind: bedrock, region: eu-west-1 }, { id: b2, kind: bedrock, region: us-east-1 }]",
    "t.yaml",
    { AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret" },
  );
  assert.deepEqual(cfg.providers.map((p) => p.base_url), [
    "https://api.openai.com/v1",
    "https://api.anthropic.com/v1",
    "https://generativelanguage.googleapis.com/v1beta",
    "https://bedrock-runtime.eu-west-1.amazonaws.com",
    "https://bedrock-runtime.us-east-1.amazonaws.com",
  ]);
  assert.deepEqual(cfg.providers[3]!.aws, { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" });
  const off = parseConfig("providers: [{ id: b, kind: bedrock, region: eu-west-1 }]", "t.yaml", {});
  assert.equal(off.providers[0]!.aws, undefined);
  assert.equal(off.routing.retries, 1, "routing defaults apply when the section is absent");
  assert.equal(off.routing.circuit_breaker.failure_threshold, 5);
});

test("a key given by environment variable is kept only as its hash", () => {
  const cfg = parseConfig("api_keys: [{ id: k, tenant: t, key_env: MY_KEY }]", "t.yaml", { MY_KEY: "s3cret" });
  assert.equal(cfg.apiKeys[0]!.keySha256, sha256Hex("s3cret"));
  assert.doesNotMatch(JSON.stringify(cfg), /s3cret/);
});

test("prompt_registry: its store defaults to authz's, a Postgres store needs a URL, labels may be splits", () => {
  const cfg = parseConfig("{}", "t.yaml", {});
  assert.equal(cfg.prompt_registry.store, undefined, "unset: authz's database");
  assert.equal(cfg.prompt_registry.cache_ms, 1000);
  fails("prompt_registry: { store: { kind: postgres } }", /prompt_registry\.store: kind postgres needs url, or url_env/);
  fails("prompt_registry: { cache_ms: 5000 }", /prompt_registry\.cache_ms/);
  const split = parseConfig(
    "prompts: [{ name: p, versions: [{ version: 1, model: m, messages: [{ role: user, content: x }] }], labels: { production: [{ version: 1, weight: 90 }] } }]",
    "t.yaml",
    {},
  );
  assert.deepEqual(split.prompts[0]!.labels, { production: [{ version: 1, weight: 90 }] });
  fails("prompts: [{ name: p, versions: [{ version: 1, model: m, messages: [{ role: user, content: x }] }], labels: { production: [{ version: 1, weight: 0 }] } }]", /prompts\.0\.labels\.production/);
});
