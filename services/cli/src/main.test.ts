import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as net from "node:net";
import { create, type Message } from "@bufbuild/protobuf";
import {
  AdminService,
  ApiKeySchema,
  CreateKeyResponseSchema,
  ListKeysResponseSchema,
  RotateKeyResponseSchema,
} from "@tessera/gen/tessera/authz/v1/admin_pb";
import { bind, startServer, TesseraError, type RunningServer } from "@tessera/runtime";
import { recordAdminCalls } from "../../../tests/helpers/admin-recorder.js";
import { memoryLogger } from "../../../tests/helpers/log.js";
import { run } from "./main.js";

const { impl, seen, last, answering } = recordAdminCalls();

const TOKEN = "tsk_operator_secret_42";
let server: RunningServer;

before(async () => {
  server = await startServer({ name: "admin-test", host: "127.0.0.1", port: 0, bindings: [bind(AdminService, impl)], log: memoryLogger("admin-test").log });
});

after(() => server.close());

/** Run the CLI against the test server; env adds to (or, with undefined, removes from) the defaults. */
async function tessera(argv: string[], env: Record<string, string | undefined> = {}) {
  seen.length = 0;
  let out = "";
  let err = "";
  const fullEnv: NodeJS.ProcessEnv = { TESSERA_URL: server.url, TESSERA_TOKEN: TOKEN };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete fullEnv[k];
    else fullEnv[k] = v;
  }
  const code = await run(argv, { out: (s) => (out += s), err: (s) => (err += s), env: fullEnv });
  return { code, out, err };
}

/** Run with an answer set for one RPC, then take it away. */
function withAnswer(rpc: string, answer: Message | Error, argv: string[], env?: Record<string, string | undefined>) {
  return answering(rpc, answer, () => tessera(argv, env));
}

const T = ["--tenant", "acme"];

const CASES: { argv: string[]; rpc: string; req: Record<string, unknown> }[] = [
  { argv: ["whoami"], rpc: "whoAmI", req: {} },
  { argv: ["tenants", "create", "acme", "--name", "Acme Inc"], rpc: "createTenant", req: { id: "acme", name: "Acme Inc" } },
  { argv: ["tenants", "list"], rpc: "listTenants", req: {} },
  {
    argv: ["teams", "create", ...T, "ml", "--name", "ML", "--allow", "gpt-4o*, o1", "--deny", "o1-pro"],
    rpc: "createTeam",
    req: { tenant_id: "acme", id: "ml", name: "ML", models_allow: ["gpt-4o*", "o1"], models_deny: ["o1-pro"] },
  },
  { argv: ["teams", "update", ...T, "ml", "--deny", "x"], rpc: "updateTeam", req: { tenant_id: "acme", id: "ml", models_deny: ["x"] } },
  { argv: ["teams", "list", ...T], rpc: "listTeams", req: { tenant_id: "acme" } },
  {
    argv: ["users", "create", ...T, "ann", "--email", "ann@acme.test", "--team", "ml", "--roles", "admin,developer"],
    rpc: "createUser",
    req: { tenant_id: "acme", id: "ann", email: "ann@acme.test", team_id: "ml", roles: ["admin", "developer"] },
  },
  { argv: ["users", "list", ...T], rpc: "listUsers", req: { tenant_id: "acme" } },
  {
    argv: ["keys", "create", ...T, "--team", "ml", "--user", "ann", "--name", "ci", "--roles", "developer", "--models", "m1,m2", "--deny-models", "m3", "--prompts", "p1", "--redaction", "strict", "--ttl", "30d"],
    rpc: "createKey",
    req: { tenant_id: "acme", team_id: "ml", user_id: "ann", name: "ci", roles: ["developer"], models_allow: ["m1", "m2"], models_deny: ["m3"], prompts_allow: ["p1"], redaction_policy: "strict", ttl_seconds: "2592000" },
  },
  { argv: ["keys", "create", ...T, "--ttl", "3600"], rpc: "createKey", req: { tenant_id: "acme", ttl_seconds: "3600" } },
  { argv: ["keys", "create", ...T, "--apis", "/apis/support/*,/apis/x"], rpc: "createKey", req: { tenant_id: "acme", apis_allow: ["/apis/support/*", "/apis/x"] } },
  { argv: ["keys", "update", ...T, "k1", "--apis", "/apis/support/*"], rpc: "updateKey", req: { tenant_id: "acme", id: "k1", fields: ["apis_allow"], apis_allow: ["/apis/support/*"] } },
  { argv: ["keys", "update", ...T, "k1", "--prompts", "", "--name", "ci"], rpc: "updateKey", req: { tenant_id: "acme", id: "k1", fields: ["name", "prompts_allow"], name: "ci" } },
  { argv: ["keys", "create", ...T, "--ttl", "12h"], rpc: "createKey", req: { tenant_id: "acme", ttl_seconds: "43200" } },
  { argv: ["keys", "list", ...T], rpc: "listKeys", req: { tenant_id: "acme" } },
  { argv: ["keys", "rotate", ...T, "k1", "--overlap", "1h"], rpc: "rotateKey", req: { tenant_id: "acme", id: "k1", overlap_seconds: "3600" } },
  { argv: ["keys", "rotate", ...T, "k1"], rpc: "rotateKey", req: { tenant_id: "acme", id: "k1" } },
  { argv: ["keys", "revoke", ...T, "k1"], rpc: "revokeKey", req: { tenant_id: "acme", id: "k1" } },
  {
    argv: ["limits", "set", ...T, "--scope", "key", "--id", "k1", "--rpm", "60", "--tpm", "100000"],
    rpc: "setLimit",
    req: { limit: { tenant_id: "acme", scope: "key", scope_id: "k1", requests_per_minute: 60, tokens_per_minute: "100000" } },
  },
  { argv: ["limits", "set", ...T, "--scope", "tenant", "--rpm", "10"], rpc: "setLimit", req: { limit: { tenant_id: "acme", scope: "tenant", scope_id: "acme", requests_per_minute: 10 } } },
  { argv: ["limits", "list", ...T], rpc: "listLimits", req: { tenant_id: "acme" } },
  { argv: ["limits", "delete", ...T, "--scope", "key", "--id", "k1"], rpc: "deleteLimit", req: { tenant_id: "acme", scope: "key", scope_id: "k1" } },
  {
    argv: ["budgets", "set", ...T, "--scope", "team", "--id", "ml", "--period", "month", "--usd", "100", "--soft-usd", "80.5", "--tokens", "1000000", "--budget-id", "b1"],
    rpc: "setBudget",
    req: { budget: { tenant_id: "acme", id: "b1", scope: "team", scope_id: "ml", period: "month", limit_usd: 100, soft_limit_usd: 80.5, token_quota: "1000000" } },
  },
  {
    argv: ["budgets", "set", ...T, "--scope", "user", "--id", "ann", "--period", "custom", "--from", "2025-01-01", "--to", "2025-02-01T00:00:00Z", "--usd", "5"],
    rpc: "setBudget",
    req: { budget: { tenant_id: "acme", scope: "user", scope_id: "ann", period: "custom", starts_at_ms: "1735689600000", ends_at_ms: "1738368000000", limit_usd: 5 } },
  },
  { argv: ["budgets", "list", ...T], rpc: "listBudgets", req: { tenant_id: "acme" } },
  { argv: ["budgets", "delete", ...T, "b1"], rpc: "deleteBudget", req: { tenant_id: "acme", id: "b1" } },
  {
    argv: ["subscriptions", "request", ...T, "--team", "ml", "--model", "o1", "--note", "eval run"],
    rpc: "requestSubscription",
    req: { tenant_id: "acme", team_id: "ml", resource_kind: "model", resource: "o1", note: "eval run" },
  },
  { argv: ["subscriptions", "request", ...T, "--team", "ml", "--prompt", "summarise"], rpc: "requestSubscription", req: { tenant_id: "acme", team_id: "ml", resource_kind: "prompt", resource: "summarise" } },
  { argv: ["subscriptions", "approve", ...T, "s1", "--note", "ok"], rpc: "decideSubscription", req: { tenant_id: "acme", id: "s1", status: "approved", note: "ok" } },
  { argv: ["subscriptions", "reject", ...T, "s1"], rpc: "decideSubscription", req: { tenant_id: "acme", id: "s1", status: "rejected" } },
  { argv: ["subscriptions", "revoke", ...T, "s1"], rpc: "decideSubscription", req: { tenant_id: "acme", id: "s1", status: "revoked" } },
  { argv: ["subscriptions", "list", ...T], rpc: "listSubscriptions", req: { tenant_id: "acme" } },
  { argv: ["audit"], rpc: "listAudit", req: {} },
  { argv: ["audit", ...T, "--limit", "20", "--before", "a9"], rpc: "listAudit", req: { tenant_id: "acme", limit: 20, before_id: "a9" } },
  { argv: ["--json", ...T, "keys", "--token", TOKEN, "list"], rpc: "listKeys", req: { tenant_id: "acme" } },
  { argv: ["keys", "list", "--tenant=acme"], rpc: "listKeys", req: { tenant_id: "acme" } },
];

test("each command calls its RPC with its arguments in the right fields", async () => {
  for (const c of CASES) {
    const r = await tessera(c.argv);
    const what = c.argv.join(" ");
    assert.equal(r.code, 0, `${what}: ${r.err}`);
    assert.equal(seen.length, 1, what);
    assert.equal(last().rpc, c.rpc, what);
    assert.deepEqual(last().req, c.req, what);
  }
});

test("the token goes in the authorization header: --token, else TESSERA_TOKEN, else TESSERA_ADMIN_TOKEN", async () => {
  await tessera(["whoami"]);
  assert.equal(last().authorization, `Bearer ${TOKEN}`);
  await tessera(["whoami", "--token", "cli-token"]);
  assert.equal(last().authorization, "Bearer cli-token");
  await tessera(["whoami"], { TESSERA_TOKEN: undefined, TESSERA_ADMIN_TOKEN: "admin-token" });
  assert.equal(last().authorization, "Bearer admin-token");
  await tessera(["whoami"], { TESSERA_TOKEN: undefined });
  assert.equal(last().authorization, null);
  const viaUrl = await tessera(["whoami", "--url", server.url], { TESSERA_URL: "http://127.0.0.1:1" });
  assert.equal(viaUrl.code, 0, "--url wins over TESSERA_URL");
});

const KEYS = create(ListKeysResponseSchema, {
  keys: [
    create(ApiKeySchema, { id: "k1", tenantId: "acme", name: "ci", prefix: "tsk_ab12", teamId: "ml", roles: ["developer"], createdAtMs: 1_735_689_600_000n, expiresAtMs: 4_102_444_800_000n }),
    create(ApiKeySchema, { id: "k2-long-id", tenantId: "acme", prefix: "tsk_cd34", roles: ["admin", "viewer"], revokedAtMs: 1_735_689_600_000n }),
  ],
});

test("lists print as aligned tables; --json prints the answer as proto JSON", async () => {
  const t = await withAnswer("listKeys", KEYS, ["keys", "list", ...T]);
  assert.equal(t.code, 0);
  const lines = t.out.trimEnd().split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^ID\s+NAME\s+PREFIX\s+TEAM_ID\s+USER_ID\s+ROLES\s+EXPIRES_AT_MS\s+STATUS$/);
  assert.match(lines[1]!, /^k1\s+ci\s+tsk_ab12\s+ml\s+-\s+developer\s+2100-01-01T00:00:00Z\s+active$/);
  assert.match(lines[2]!, /^k2-long-id\s+-\s+tsk_cd34\s+-\s+-\s+admin,viewer\s+-\s+revoked$/);
  const col = (l: string, word: string) => l.indexOf(word);
  assert.equal(col(lines[1]!, "tsk_ab12"), col(lines[0]!, "PREFIX"), "columns line up");
  assert.equal(col(lines[2]!, "revoked"), col(lines[0]!, "STATUS"));

  const j = await withAnswer("listKeys", KEYS, ["keys", "list", ...T, "--json"]);
  const parsed = JSON.parse(j.out) as { keys: Record<string, unknown>[] };
  assert.equal(parsed.keys.length, 2);
  assert.equal(parsed.keys[0]!["created_at_ms"], "1735689600000");
  assert.equal(parsed.keys[0]!["user_id"], "", "implicit fields are there");
  assert.deepEqual(parsed.keys[1]!["roles"], ["admin", "viewer"]);

  const none = await tessera(["teams", "list", ...T]);
  assert.equal(none.out, "(none)\n");
  assert.equal((await tessera(["budgets", "delete", ...T, "b1"])).out, "deleted budget b1\n");
});

test("a new key's secret is printed once, with a warning", async () => {
  const created = create(CreateKeyResponseSchema, { secret: "tsk_live_SECRETVALUE", key: create(ApiKeySchema, { id: "k9", tenantId: "acme", prefix: "tsk_live" }) });
  const r = await withAnswer("createKey", created, ["keys", "create", ...T]);
  assert.equal(r.code, 0);
  assert.equal(r.out.split("tsk_live_SECRETVALUE").length, 2, "exactly once");
  assert.match(r.out, /^secret: tsk_live_SECRETVALUE$/m);
  assert.match(r.out, /^id\s+k9$/m);
  assert.match(r.err, /store it now: it cannot be shown again/);

  const j = await withAnswer("createKey", created, ["keys", "create", ...T, "--json"]);
  assert.equal((JSON.parse(j.out) as { secret: string }).secret, "tsk_live_SECRETVALUE");
  assert.equal(j.out.split("tsk_live_SECRETVALUE").length, 2);
  assert.match(j.err, /store it now/);

  const rotated = create(RotateKeyResponseSchema, { secret: "tsk_live_NEW", key: create(ApiKeySchema, { id: "k10" }), previous: create(ApiKeySchema, { id: "k9", expiresAtMs: 1_735_693_200_000n }) });
  const rot = await withAnswer("rotateKey", rotated, ["keys", "rotate", ...T, "k9"]);
  assert.equal(rot.out.split("tsk_live_NEW").length, 2);
  assert.match(rot.out, /previous key k9 works until 2025-01-01T01:00:00Z/);
  assert.match(rot.err, /store it now/);
});

test("usage mistakes print the usage and exit 2 without calling", async () => {
  const cases: [string[], RegExp][] = [
    [["keys", "create"], /missing --tenant/],
    [["keys", "create", ...T, "--frob"], /Unknown option '--frob'/],
    [["keys", "create", ...T, "--ttl", "soon"], /--ttl must be a duration/],
    [["keys", "create", ...T, "--team"], /argument missing/],
    [["keys", "revoke", ...T], /missing <id>/],
    [["keys", "revoke", ...T, "k1", "k2"], /unexpected argument 'k2'/],
    [["limits", "set", ...T, "--scope", "galaxy", "--rpm", "1"], /--scope must be one of tenant, team, user, key/],
    [["limits", "set", ...T, "--scope", "key", "--rpm", "1"], /--id is required with --scope key/],
    [["limits", "set", ...T, "--scope", "key", "--id", "k"], /give --rpm, --tpm or both/],
    [["limits", "set", ...T, "--scope", "key", "--id", "k", "--rpm", "-3"], /argument is ambiguous|--rpm must be a whole number/],
    [["limits", "set", ...T, "--scope", "key", "--id", "k", "--rpm", "1.5"], /--rpm must be a whole number/],
    [["budgets", "set", ...T, "--scope", "team", "--id", "ml", "--period", "custom", "--usd", "1"], /needs --from and --to/],
    [["budgets", "set", ...T, "--scope", "team", "--id", "ml", "--period", "month", "--from", "2025-01-01", "--usd", "1"], /--period custom only/],
    [["budgets", "set", ...T, "--scope", "team", "--id", "ml", "--period", "custom", "--from", "2025-02-01", "--to", "2025-01-01", "--usd", "1"], /--to must be after --from/],
    [["budgets", "set", ...T, "--scope", "team", "--id", "ml", "--period", "month", "--usd", "lots"], /--usd must be an amount/],
    [["subscriptions", "request", ...T, "--team", "ml", "--model", "a", "--prompt", "b"], /exactly one of --model and --prompt/],
    [["users", "create", ...T, "ann"], /missing --email/],
    [["whoami", "--url", "ftp://x"], /--url must be an http\(s\) URL/],
  ];
  for (const [argv, message] of cases) {
    const r = await tessera(argv);
    const what = argv.join(" ");
    assert.equal(r.code, 2, `${what}: ${r.err}`);
    assert.match(r.err, message, what);
    assert.match(r.err, /^tessera: /, what);
    assert.match(r.err, /usage: tessera /, what);
    assert.equal(r.out, "", what);
    assert.equal(seen.length, 0, what);
  }
  const unknown = await tessera(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown command 'frobnicate'/);
  const unknownSub = await tessera(["keys", "frob"]);
  assert.equal(unknownSub.code, 2);
  assert.match(unknownSub.err, /unknown command 'keys frob'[\s\S]*keys create/);
  const bareGroup = await tessera(["keys"]);
  assert.equal(bareGroup.code, 2);
  assert.match(bareGroup.err, /'keys' needs a subcommand/);
  assert.equal((await tessera([])).code, 2);
});

test("help: overall, per group and per command, exit 0", async () => {
  for (const argv of [["--help"], ["help"], ["-h"]]) {
    const r = await tessera(argv);
    assert.equal(r.code, 0, argv.join(" "));
    assert.match(r.out, /commands:[\s\S]*keys create[\s\S]*subscriptions approve <id>[\s\S]*audit/);
  }
  const group = await tessera(["budgets", "--help"]);
  assert.equal(group.code, 0);
  assert.match(group.out, /budgets set/);
  assert.doesNotMatch(group.out, /keys create/);
  for (const argv of [["keys", "create", "--help"], ["help", "keys", "create"], ["keys", "create", "-h"]]) {
    const r = await tessera(argv);
    assert.equal(r.code, 0, argv.join(" "));
    assert.match(r.out, /^usage: tessera keys create --tenant T \[--team TEAM\]/);
    assert.match(r.out, /--deny-models M1,M2\s+models the key may never use/);
    assert.match(r.out, /--url URL/);
    assert.equal(seen.length, 0);
  }
});

test("server errors print 'tessera: <message>' and exit 1, never the token", async () => {
  const denied = await withAnswer("createKey", new TesseraError("permission_denied", "Your role may not create keys.", { code: "forbidden" }), ["keys", "create", ...T]);
  assert.deepEqual([denied.code, denied.out, denied.err], [1, "", "tessera: Your role may not create keys.\n"]);

  const echo = await withAnswer("whoAmI", new TesseraError("unauthenticated", `Invalid API key ${TOKEN}.`), ["whoami"]);
  assert.equal(echo.code, 1);
  assert.ok(!echo.err.includes(TOKEN));
  assert.match(echo.err, /Invalid API key \[redacted\]/);

  const noToken = await withAnswer("whoAmI", new TesseraError("unauthenticated", "Missing API key."), ["whoami"], { TESSERA_TOKEN: undefined });
  assert.match(noToken.err, /^tessera: Missing API key\. \(no token given: set --token or TESSERA_TOKEN\)\n$/);

  const internal = await withAnswer("listTenants", new Error("db password=hunter2"), ["tenants", "list"]);
  assert.equal(internal.code, 1);
  assert.match(internal.err, /^tessera: internal error\n$/);
});

test("an unreachable URL says how to fix it", async () => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const url = `http://127.0.0.1:${port}`;
  const r = await tessera(["keys", "list", ...T, "--url", url]);
  assert.equal(r.code, 1);
  assert.equal(r.err, `tessera: cannot reach Tessera at ${url}; is it running (npm start)? set --url or TESSERA_URL\n`);
  assert.ok(!r.err.includes(TOKEN));
});
