import assert from "node:assert/strict";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import OpenAI from "openai";

/** The operator token tests configure (authz.admin_token_env names the variable). */
export const OPERATOR_TOKEN = "op-test-token-5f0c2b9e";
export const OPERATOR_ENV = "TESSERA_TEST_OPERATOR_TOKEN";

/** An admin client on the public port acting with `token`. */
export function adminClient(url: string, token: string): Client<typeof AdminService> {
  return createClient(
    AdminService,
    createConnectTransport({ baseUrl: url, httpVersion: "1.1", interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] }),
  );
}

/** What {@link setUpTenants} made: per tenant, an admin key and a developer key. */
export interface TwoTenants {
  a: { id: string; admin: string; dev: string; devKeyId: string; team: string };
  b: { id: string; admin: string; dev: string; devKeyId: string; team: string };
}

/**
 * Two tenants, each with a team, an admin key and a developer key, made through the admin API
 * by the operator. Names carry `suffix` so runs on shared engines never collide.
 */
export async function setUpTenants(url: string, suffix: string): Promise<TwoTenants> {
  const op = adminClient(url, OPERATOR_TOKEN);
  const make = async (name: string) => {
    const id = `${name}-${suffix}`;
    await op.createTenant({ id, name });
    await op.createTeam({ tenantId: id, id: "core", name: "Core" });
    const admin = await op.createKey({ tenantId: id, name: "admin", roles: ["admin"] });
    const dev = await op.createKey({ tenantId: id, teamId: "core", name: "dev", roles: ["developer"] });
    assert.match(dev.secret, /^tsk-/);
    return { id, admin: admin.secret, dev: dev.secret, devKeyId: dev.key!.id, team: "core" };
  };
  return { a: await make("ta"), b: await make("tb") };
}

/** An OpenAI SDK client with a key, no retries. */
export function openai(url: string, key: string): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0, timeout: 10_000 });
}

/** Fire `n` chat calls at once; count the outcomes by HTTP status. */
export async function burst(client: OpenAI, model: string, n: number, maxTokens = 16): Promise<Map<number, number>> {
  const statuses = await Promise.all(
    Array.from({ length: n }, () =>
      client.chat.completions
        .create({ model, max_tokens: maxTokens, messages: [{ role: "user", content: "hi" }] })
        .then(() => 200)
        .catch((e: unknown) => (e instanceof OpenAI.APIError ? (e.status ?? 0) : -1)),
    ),
  );
  const m = new Map<number, number>();
  for (const s of statuses) m.set(s, (m.get(s) ?? 0) + 1);
  return m;
}
