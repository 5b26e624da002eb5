import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { TEST_KEYS } from "../helpers/config.js";
import { startTestGateway } from "../helpers/gateway.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** How many tests tests/python/test_grpc_chat.py holds; a change there must change this. */
const PYTHON_TESTS = 6;
const RUN_TIMEOUT_MS = 90_000;

/**
 * Run a command without blocking the event loop (the gateway under test lives in this
 * process), killing it after `timeoutMs`.
 */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; out: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (out += c.toString("utf8")));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, timedOut });
    });
  });
}

describe("a generated Python gRPC client (grpcio) against the gateway", () => {
  let g: Awaited<ReturnType<typeof startTestGateway>>;
  before(async () => {
    g = await startTestGateway();
  });
  after(() => g?.stop());

  test("Chat, ChatStream and their error codes behave as the Python client expects", { timeout: RUN_TIMEOUT_MS + 10_000 }, async () => {
    const port = new URL(g.url).port;
    const r = await run(
      "bash",
      ["tests/python/run.sh"],
      { TESSERA_GRPC_TARGET: `127.0.0.1:${port}`, TESSERA_TEST_API_KEY: TEST_KEYS.acme },
      RUN_TIMEOUT_MS,
    );
    const output = `\n--- tests/python/run.sh output ---\n${r.out}`;
    if (r.timedOut) assert.fail(`tests/python/run.sh did not finish within ${RUN_TIMEOUT_MS} ms${output}`);
    if (r.code === 3) assert.fail(`python3 with grpcio and grpcio-tools is needed: run scripts/infra up${output}`);
    assert.equal(r.code, 0, `the Python tests failed${output}`);
    const ran = /^Ran (\d+) tests? in [\d.]+s$/m.exec(r.out);
    assert.ok(ran, `no unittest summary in the output${output}`);
    assert.equal(Number(ran[1]), PYTHON_TESTS, `expected ${PYTHON_TESTS} Python tests to run${output}`);
    assert.match(r.out, /^OK$/m, `unittest did not report OK${output}`);
  });
});
