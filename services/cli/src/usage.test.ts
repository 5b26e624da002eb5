import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startTestGateway } from "../../../tests/helpers/gateway.js";
import { OPERATOR_ENV, OPERATOR_TOKEN, openai, setUpTenants, type TwoTenants } from "../../../tests/helpers/tenants.js";
import { run } from "./main.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

/** `tessera usage …` against a real all-in-one gateway with a few metered calls. */
describe("tessera usage", () => {
  let g: Gateway;
  let t: TwoTenants;
  const from = new Date(Date.now() - 60_000).toISOString();

  before(async () => {
    process.env[OPERATOR_ENV] = OPERATOR_TOKEN;
    g = await startTestGateway({ authz: `{ store: { kind: pglite, path: "" }, admin_token_env: ${OPERATOR_ENV} }`, extra: "prices: [{ model: demo, provider: demo, input: 1000000, output: 0 }]" });
    t = await setUpTenants(g.url, Math.random().toString(36).slice(2, 8));
    for (const key of [t.a.dev, t.a.dev, t.b.dev]) await openai(g.url, key).chat.completions.create({ model: "demo", messages: [{ role: "user", content: "hi" }] });
    await g.gw.events.flush();
  });
  after(() => g.stop());

  async function tessera(token: string, ...argv: string[]) {
    let out = "";
    let err = "";
    const code = await run(argv, { out: (s) => (out += s), err: (s) => (err += s), env: { TESSERA_URL: g.url, TESSERA_TOKEN: token } });
    return { code, out, err };
  }

  test("usage report prints a table grouped as asked; a tenant's key sees its own tenant only", async () => {
    const op = await tessera(OPERATOR_TOKEN, "usage", "report", "--from", from, "--group-by", "tenant,model", "--tenant", `${t.a.id},${t.b.id}`);
    assert.equal(op.code, 0, op.err);
    const lines = op.out.trim().split("\n");
    assert.match(lines[0]!, /^TENANT\s+MODEL\s+REQUESTS\s+ERRORS\s+PROMPT_TOKENS\s+COMPLETION_TOKENS\s+CACHE_HITS\s+MEAN_MS\s+COST_USD$/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3)), [[t.a.id, "demo", "2"], [t.b.id, "demo", "1"]]);
    const own = await tessera(t.a.dev, "usage", "report", "--from", from, "--group-by", "tenant", "--json");
    assert.equal(own.code, 0, own.err);
    const body = JSON.parse(own.out) as { rows: { group: { tenant_id: string }; requests: string; cost_usd: string }[] };
    assert.deepEqual(body.rows.map((r) => [r.group.tenant_id, r.requests]), [[t.a.id, "2"]]);
    assert.match(body.rows[0]!.cost_usd, /^\d+(\.\d+)?$/);
  });

  test("usage report --top ranks; usage latency prints percentiles", async () => {
    const top = await tessera(OPERATOR_TOKEN, "usage", "report", "--from", from, "--group-by", "tenant", "--tenant", `${t.a.id},${t.b.id}`, "--top", "1", "--order-by", "requests");
    assert.equal(top.out.trim().split("\n").length, 2);
    assert.match(top.out, new RegExp(`${t.a.id}\\s+2\\s`));
    const lat = await tessera(t.b.dev, "usage", "latency", "--from", from, "--bucket", "day", "--group-by", "model");
    assert.equal(lat.code, 0, lat.err);
    assert.match(lat.out.split("\n")[0]!, /^BUCKET\s+MODEL\s+REQUESTS\s+P50_MS\s+P90_MS\s+P95_MS\s+P99_MS\s+STREAMS\s+TTFT_P50_MS\s+TTFT_P95_MS$/);
    assert.match(lat.out.split("\n")[1]!, /^\d{4}-\d{2}-\d{2}T00:00:00Z\s+demo\s+1\s/);
  });

  test("mistakes are usage errors (exit 2); another tenant is refused by the server (exit 1)", async () => {
    const noFrom = await tessera(OPERATOR_TOKEN, "usage", "report");
    assert.equal(noFrom.code, 2);
    assert.match(noFrom.err, /missing --from/);
    const badDim = await tessera(OPERATOR_TOKEN, "usage", "report", "--from", from, "--group-by", "colour");
    assert.equal(badDim.code, 2);
    assert.match(badDim.err, /--group-by must be one of tenant, team, key/);
    const other = await tessera(t.a.dev, "usage", "report", "--from", from, "--tenant", t.b.id);
    assert.equal(other.code, 1);
    assert.match(other.err, /tessera: You may only read your own tenant's usage/);
  });
});
