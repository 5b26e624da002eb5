import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** A free loopback port (bound then released; good enough for tests on one machine). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** A service process, its output kept for failure messages. */
export interface Proc {
  name: string;
  child: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

/** Start `services/<name>/src/main.ts` as its own process. */
export function startService(name: string, env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", `services/${name}/src/main.ts`], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  child.stdout!.on("data", (d) => output.push(String(d)));
  child.stderr!.on("data", (d) => output.push(String(d)));
  return {
    name,
    child,
    output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}

/** Poll `url` until it answers 200, or fail with the process's output after `timeoutMs`. */
export async function waitHealthy(url: string, proc: Proc, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited with ${proc.child.exitCode}:\n${proc.output.join("")}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.name} not healthy at ${url} after ${timeoutMs} ms:\n${proc.output.join("")}`);
}

/** Poll `fn` until it returns a value, or throw after `timeoutMs`. */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Read a required engine address from the environment, or explain how to get it. */
export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: start the engines with 'scripts/infra up' and 'eval "$(scripts/infra env)"' (npm test does both)`);
  return v;
}

/** Loopback ports of the six mesh processes. */
export interface MeshPorts {
  ingress: number;
  authz: number;
  redaction: number;
  router: number;
  prompt_registry: number;
  metering: number;
}

/** Free ports for a mesh. */
export async function meshPorts(): Promise<MeshPorts> {
  return { ingress: await freePort(), authz: await freePort(), redaction: await freePort(), router: await freePort(), prompt_registry: await freePort(), metering: await freePort() };
}

/** The `mesh:` section of a configuration for `ports` (ingress listens on `server`). */
export function meshYaml(ports: MeshPorts): string {
  const services = ["authz", "redaction", "router", "prompt_registry", "metering"] as const;
  return `mesh:\n${services.map((s) => `  ${s}: { listen: { host: 127.0.0.1, port: ${ports[s]} } }`).join("\n")}\n`;
}

/** The six services as processes, in the order `startMesh` starts them. */
export const MESH_SERVICES = ["authz", "redaction", "router", "prompt-registry", "metering", "ingress"] as const;

/** Starts the six services and waits until each is healthy; the processes in {@link MESH_SERVICES} order. */
export async function startMesh(ports: MeshPorts, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Proc[]> {
  const procs = MESH_SERVICES.map((name) => startService(name, env));
  const port = (name: (typeof MESH_SERVICES)[number]) => ports[name === "prompt-registry" ? "prompt_registry" : name];
  await Promise.all(MESH_SERVICES.map((name, i) => waitHealthy(`http://127.0.0.1:${port(name)}/healthz`, procs[i]!, timeoutMs)));
  return procs;
}
