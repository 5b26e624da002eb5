import { parseConfig, sha256Hex, type Config } from "@tessera/runtime";
import { FAKE_GEMINI_KEY } from "../../services/router/src/providers/gemini/fake.js";

/** The API keys test configurations accept. */
export const TEST_KEYS = {
  acme: "tk-test-acme-0123456789",
  beta: "tk-test-beta-0123456789",
} as const;

/** Options for {@link testConfigYaml}. */
export interface TestConfigOptions {
  /** Base URL of the fake OpenAI upstream. */
  fakeUrl: string;
  /** Base URL of the fake Anthropic upstream (the anthropic provider is left out without it). */
  anthropicUrl?: string;
  /** Base URL of the fake Gemini upstream (the gemini provider is left out without it). */
  geminiUrl?: string;
  port?: number;
  maxBodyBytes?: number;
  /** The routing section (default: one fast retry, and breakers that never open, so that
   * error tests can fail the same deployment many times; breakers are tested on their own). */
  routing?: string;
  /** Extra entries of api_keys (YAML list items, indented two spaces). */
  keys?: string;
  /** The authz section (default: PGlite in memory, counters in memory). */
  authz?: string;
  /** Extra YAML appended at the top level (events, usage_store, mesh …). */
  extra?: string;
}

/**
 * A configuration for tests: two tenants, the demo provider, a fake OpenAI upstream and a
 * model whose first deployment is unreachable (to exercise fallback).
 */
export function testConfigYaml(o: TestConfigOptions): string {
  return `
server:
  host: 127.0.0.1
  port: ${o.port ?? 0}
  max_body_bytes: ${o.maxBodyBytes ?? 65536}
  drain_timeout_ms: 2000
api_keys:
  - { id: acme-key, tenant: acme, team: platform, key_sha256: ${sha256Hex(TEST_KEYS.acme)} }
  - { id: beta-key, tenant: beta, models: [demo], key_sha256: ${sha256Hex(TEST_KEYS.beta)} }
${o.keys ?? ""}
providers:
  - { id: demo, kind: demo }
  - { id: fake, kind: openai, base_url: "${o.fakeUrl}", api_key_env: FAKE_OPENAI_KEY, connections: 8, timeout_ms: 5000 }
  - { id: down, kind: openai, base_url: "http://127.0.0.1:1/v1", timeout_ms: 2000 }
  - { id: off, kind: openai, base_url: "http://127.0.0.1:1/v1", api_key_env: TESSERA_TEST_UNSET_KEY }
${o.anthropicUrl ? `  - { id: fake-anthropic, kind: anthropic, base_url: "${o.anthropicUrl}", api_key_env: FAKE_ANTHROPIC_KEY, timeout_ms: 5000 }` : ""}
${o.geminiUrl ? `  - { id: fake-gemini, kind: gemini, base_url: "${o.geminiUrl}", api_key_env: FAKE_GEMINI_KEY, timeout_ms: 5000 }` : ""}
models:
  - { name: demo, deployments: [{ provider: demo, model: demo }] }
  - { name: gpt-fake, owned_by: openai, deployments: [{ provider: fake, model: gpt-4o-mini }] }
  - { name: embed-fake, owned_by: openai, deployments: [{ provider: fake, model: text-embedding-3-small }] }
  - { name: with-fallback, deployments: [{ provider: down, model: x }, { provider: fake, model: gpt-4o-mini }] }
  - { name: switched-off, deployments: [{ provider: off, model: x }] }
  - { name: approved-only, requires_approval: true, deployments: [{ provider: demo, model: demo }] }
  - name: routed
    deployments: [{ provider: demo, model: demo }, { provider: fake, model: gpt-4o-mini }]
    routes: [{ when: { headers: { x-tessera-route: upstream } }, deployments: [fake/gpt-4o-mini] }]
${o.anthropicUrl ? "  - { name: claude-fake, owned_by: anthropic, deployments: [{ provider: fake-anthropic, model: claude-3-5-haiku-latest }] }" : ""}
${o.geminiUrl ? "  - { name: gemini-fake, owned_by: google, deployments: [{ provider: fake-gemini, model: gemini-2.0-flash }] }" : ""}
authz: ${o.authz ?? '{ store: { kind: pglite, path: "" } }'}
routing: ${o.routing ?? "{ retries: 1, backoff_base_ms: 5, backoff_max_ms: 50, circuit_breaker: { failure_threshold: 1000000 } }"}
${o.extra ?? ""}
`;
}

/** The env the test configuration reads secrets from. */
export const TEST_ENV = { FAKE_OPENAI_KEY: "sk-fake-upstream-secret", FAKE_ANTHROPIC_KEY: "sk-ant-fake-upstream-secret", FAKE_GEMINI_KEY } as NodeJS.ProcessEnv;

/** Parse the test configuration. */
export function testConfig(o: TestConfigOptions): Config {
  return parseConfig(testConfigYaml(o), "test-config", TEST_ENV);
}
