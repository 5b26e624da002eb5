import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, TesseraError, type RunningServer } from "@tessera/runtime";
import { memoryPromptStore } from "../../prompt-registry/src/domain/store-contract.js";
import { createPromptAdmin, type Caller } from "../../prompt-registry/src/domain/admin.js";
import type { PromptStore } from "../../prompt-registry/src/domain/store.js";
import { promptAdminService } from "../../prompt-registry/src/routes.js";
import { memoryLogger } from "../../../tests/helpers/log.js";
import { run } from "./main.js";

/** Tokens the test server knows (authz's part, which the e2e test covers for real). */
const CALLERS: Record<string, Caller> = {
  "dev-token": { operator: false, tenantId: "acme", roles: ["developer"], actor: "key:dev" },
  "viewer-token": { operator: false, tenantId: "acme", roles: ["viewer"], actor: "key:viewer" },
};

let server: RunningServer;
let store: PromptStore;
let dir = "";

before(async () => {
  store = await memoryPromptStore();
  const admin = createPromptAdmin({ store, models: new Set(["demo"]), inConfig: () => false, onChange: () => undefined });
  const caller = async (h: Headers) => {
    const c = CALLERS[(h.get("authorization") ?? "").replace(/^Bearer /, "")];
    if (!c) throw new TesseraError("unauthenticated", "Incorrect API key provided.", { code: "invalid_api_key" });
    return c;
  };
  server = await startServer({ name: "prompts-cli-test", host: "127.0.0.1", port: 0, bindings: [promptAdminService({ admin, caller })], log: memoryLogger("cli").log });
  dir = mkdtempSync(join(tmpdir(), "tessera-cli-prompts-"));
});

after(async () => {
  await server.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function tessera(argv: string[], token = "dev-token") {
  let out = "";
  let err = "";
  const code = await run(argv, { out: (s) => (out += s), err: (s) => (err += s), env: { TESSERA_URL: server.url, TESSERA_TOKEN: token } });
  return { code, out, err };
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

test("publish from a file, label, canary, roll back, history and diff", async () => {
  const v1 = file("v1.yaml", "model: demo\nmessages:\n  - { role: user, content: 'Summarise: {{ text }}' }\nvariables: [text]\n");
  const v2 = file("v2.yaml", "version: 9\nmodel: demo\nmessages:\n  - { role: user, content: 'Summarise briefly: {{ text }}' }\nvariables: [text]\ntemperature: 0.3\n");
  let r = await tessera(["prompts", "publish", "summarize", "--file", v1]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^published summarize version 1\n/);
  r = await tessera(["prompts", "publish", "summarize", "--file", v2]);
  assert.match(r.out, /published summarize version 2/, "the file's own version number is ignored");
  r = await tessera(["prompts", "label", "summarize", "production", "--version", "1"]);
  assert.equal(r.out, "summarize production: - → 1\n");
  r = await tessera(["prompts", "label", "summarize", "production", "--split", "1:90,2:10"]);
  assert.equal(r.out, "summarize production: 1 → 1:90,2:10\n");
  r = await tessera(["prompts", "label", "summarize", "production", "--version", "1"]);
  assert.equal(r.out, "summarize production: 1:90,2:10 → 1\n");

  r = await tessera(["prompts", "list"], "viewer-token");
  assert.match(r.out, /^NAME\s+LATEST_VERSION\s+LABELS\s+DESCRIPTION\nsummarize\s+2\s+production=1\s+-\n$/);
  r = await tessera(["prompts", "show", "summarize"]);
  assert.match(r.out, /label production → 1 \(by key:dev\)/);
  assert.match(r.out, /\n1\s+\S+\s+key:dev\s+[0-9a-f]{64}\n2\s/);
  r = await tessera(["prompts", "history", "--prompt", "summarize", "--limit", "2"]);
  assert.match(r.out, /label\.set\s+production: 1:90,2:10 → 1\n.*label\.set\s+production: 1 → 1:90,2:10\n$/s);
  r = await tessera(["prompts", "diff", "summarize", "1", "2"]);
  assert.match(r.out, /^temperature: \(none\) → 0\.3\n/);
  assert.match(r.out, /-Summarise: \{\{ text \}\}\n\+Summarise briefly: \{\{ text \}\}/);
  r = await tessera(["prompts", "version", "summarize", "2"]);
  assert.match(r.out, /^version: 2\nmodel: demo\n/);
  r = await tessera(["prompts", "diff", "summarize", "2", "2", "--json"]);
  assert.deepEqual(JSON.parse(r.out), { fields: [], unified: "" });
});

test("export, then import into a file-driven change: new version and label move, then nothing", async () => {
  const exported = await tessera(["prompts", "export"]);
  assert.equal(exported.code, 0, exported.err);
  assert.match(exported.out, /^prompts:\n {2}- name: summarize\n/);
  assert.equal((await tessera(["prompts", "import", file("same.yaml", exported.out)])).out, "nothing to change: the file is applied already\n");
  const changed = exported.out
    .replace("    labels:", "      - version: 3\n        model: demo\n        messages: [{ role: user, content: 'v3 {{ text }}' }]\n        variables: [text]\n    labels:")
    .replace("production: 1", "production: 3");
  const r = await tessera(["prompts", "import", file("next.yaml", changed)]);
  assert.equal(r.out, "summarize: version.publish v3\nsummarize: label.set production\n");
});

test("mistakes: usage errors exit 2 before any call, refusals exit 1 with the server's words", async () => {
  let r = await tessera(["prompts", "label", "summarize", "production"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /give exactly one of --version and --split/);
  r = await tessera(["prompts", "label", "summarize", "production", "--split", "1-90"]);
  assert.match(r.err, /--split takes version:weight pairs like 3:90,4:10, not '1-90'/);
  r = await tessera(["prompts", "publish", "summarize", "--file", join(dir, "missing.yaml")]);
  assert.deepEqual([r.code, /cannot read --file .*missing\.yaml: ENOENT/.test(r.err)], [2, true]);
  r = await tessera(["prompts", "publish", "summarize"]);
  assert.match(r.err, /missing --file/);

  r = await tessera(["prompts", "publish", "summarize", "--file", file("bad.yaml", "model: demo\nmessages: [{ role: user, content: 'Hi {{ name ' }]\n")]);
  assert.equal(r.code, 1);
  assert.match(r.err, /^tessera: spec\.messages\.0: template syntax error/);
  r = await tessera(["prompts", "label", "summarize", "production", "--version", "7"]);
  assert.match(r.err, /there is no version 7/);
  r = await tessera(["prompts", "show", "nope"]);
  assert.equal(r.err, "tessera: Prompt 'nope' does not exist.\n");
  r = await tessera(["prompts", "label", "summarize", "production", "--version", "1"], "viewer-token");
  assert.match(r.err, /needs the admin or developer role; yours: viewer/);
  r = await tessera(["prompts", "list"], "wrong-token");
  assert.equal(r.err, "tessera: Incorrect API key provided.\n");
});

test("apis: publish a chain from a file, list, show (round trip), replace, history, unpublish; errors name the field", async () => {
  await tessera(["prompts", "publish", "extract", "--file", file("x.yaml", "model: demo\nmessages: [{ role: user, content: 'Extract {{ ticket }}' }]\nvariables: [ticket]\n")]);
  await tessera(["prompts", "label", "extract", "production", "--version", "1"]);
  const chain = file(
    "api.yaml",
    "path: /apis/support/reply\ntenant: ignored\ninput: [ticket]\naccess: { teams: [support] }\nsteps:\n  - { name: extract, prompt: extract, variables: { ticket: '{{ input.ticket }}' } }\n  - { name: sum, prompt: summarize, variables: { text: '{{ steps.extract.output }}' } }\n",
  );
  let r = await tessera(["apis", "publish", "--file", chain]);
  assert.deepEqual([r.code, r.out], [0, "published /apis/support/reply\n"], r.err);
  r = await tessera(["apis", "list"], "viewer-token");
  assert.match(r.out, /^PATH\s+SERVES\s+SOURCE\s+REQUIRES_APPROVAL\s+UPDATED_BY\s+UPDATED_AT_MS\n\/apis\/support\/reply\s+extract → summarize\s+store\s+no\s+key:dev\s+\d{4}-/);
  r = await tessera(["apis", "show", "/apis/support/reply"]);
  assert.match(r.out, /^path: \/apis\/support\/reply\n/);
  assert.match(r.out, /variables:\n\s+ticket: "\{\{ input\.ticket \}\}"/);
  // What show prints publishes the same API again.
  r = await tessera(["apis", "publish", "--file", file("again.yaml", r.out)]);
  assert.equal(r.out, "replaced /apis/support/reply\n", r.err);
  r = await tessera(["apis", "history", "/apis/support/reply"]);
  assert.match(r.out, /api\.publish\s+extract → summarize\n.*api\.publish\s+extract → summarize\n$/s);

  r = await tessera(["apis", "publish", "--file", file("bad-api.yaml", "path: /apis/x\nprompt: summarize\nlabel: nightly\n")]);
  assert.deepEqual([r.code, r.err], [1, "tessera: api.label: prompt 'summarize' has no label 'nightly' (labels: production)\n"]);
  r = await tessera(["apis", "publish", "--file", file("bad-api2.yaml", "path: /apis/x\nprompt: summarize\nsteps: oops\n")]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--file .*bad-api2\.yaml: .*steps/);
  r = await tessera(["apis", "delete", "/apis/support/reply"]);
  assert.equal(r.out, "unpublished /apis/support/reply\n");
  r = await tessera(["apis", "show", "/apis/support/reply"]);
  assert.equal(r.err, "tessera: There is no prompt API at /apis/support/reply for tenant 'acme'.\n");
  r = await tessera(["apis", "history", "/apis/support/reply"]);
  assert.match(r.out, /api\.delete\s+\(unpublished\)\n/);
});
