/**
 * The processes a benchmark run starts: spawning them with an orphan guard, waiting until
 * they are ready, reading their CPU time and resident memory from /proc, and stopping every
 * one of them on the way out (normal end, error, Ctrl-C).
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { request } from "undici";

/** The repository root (scripts/benchmark/../..). */
export const REPO = fileURLToPath(new URL("../../", import.meta.url));
const GUARD = fileURLToPath(new URL("./orphan-guard.mjs", import.meta.url));

/** A process started by the benchmark. */
export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** The last lines it wrote to stdout/stderr, for error messages. */
  tail: string[];
  /** Set once it has exited. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  /** Resolves when it exits. */
  exited: Promise<void>;
}

const children = new Set<Child>();
const TAIL_LINES = 40;

/**
 * Start `node --import tsx <entry>` directly (not through the tsx CLI, which would put a
 * wrapper process between us and the one whose CPU and memory we measure).
 */
export function spawnTs(name: string, entry: string, opts: { args?: string[]; env?: NodeJS.ProcessEnv } = {}): Child {
  // Service entries run as the production bundles in dist/ (plain node, see scripts/build.mjs);
  // the benchmark's own helpers (fake upstream, bare proxy) run from source under tsx.
  const service = /^services\/([^/]+)\/src\/main\.ts$/.exec(entry);
  const argv = service ? ["--import", GUARD, `dist/${service[1]}.mjs`] : ["--import", "tsx", "--import", GUARD, entry];
  const proc = spawn(process.execPath, [...argv, ...(opts.args ?? [])], {
    cwd: REPO,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${entry}`);
  const child: Child = { name, proc, pid: proc.pid, tail: [], exited: Promise.resolve() };
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line) continue;
      child.tail.push(line);
      if (child.tail.length > TAIL_LINES) child.tail.shift();
    }
  };
  proc.stdout!.on("data", keep);
  proc.stderr!.on("data", keep);
  proc.on("error", () => {});
  child.exited = new Promise((resolve) => {
    proc.once("exit", (code, signal) => {
      child.exit = { code, signal };
      children.delete(child);
      resolve();
    });
  });
  children.add(child);
  return child;
}

/** Why a child is not usable: its exit and its last output. */
export function describeDeath(c: Child): string {
  const how = c.exit ? (c.exit.signal ? `killed by ${c.exit.signal}` : `exited with code ${c.exit.code}`) : "still running";
  return `${c.name} (pid ${c.pid}) ${how}; last output:\n    ${c.tail.slice(-15).join("\n    ") || "(none)"}`;
}

/** Wait for a line on the child's stdout matching `re`; returns the first capture group. */
export function waitForLine(c: Child, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      const m = re.exec(buf);
      if (m) {
        done();
        resolve(m[1] ?? m[0]);
      }
    };
    const onExit = () => {
      done();
      reject(new Error(`while waiting for it to start: ${describeDeath(c)}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${c.name} did not print ${re} within ${timeoutMs} ms; last output:\n    ${c.tail.join("\n    ")}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      c.proc.stdout!.off("data", onData);
      c.proc.off("exit", onExit);
    };
    c.proc.stdout!.on("data", onData);
    c.proc.once("exit", onExit);
  });
}

/** Poll `GET <origin>/healthz` until it answers 200. */
export async function waitHealthy(c: Child, origin: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (c.exit) throw new Error(`while waiting for /healthz: ${describeDeath(c)}`);
    try {
      const res = await request(`${origin}/healthz`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${c.name}: ${origin}/healthz not ready after ${timeoutMs} ms; last output:\n    ${c.tail.join("\n    ")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A free loopback TCP port (bound then released; fine for a benchmark). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", resolve);
  });
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Can a TCP connection be opened to host:port within `timeoutMs`? */
export function tcpReachable(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const end = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => end(false));
    sock.once("connect", () => end(true));
    sock.once("error", () => end(false));
  });
}

let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** User + system CPU time of a process, all its threads, in ms (from /proc/<pid>/stat). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after "(comm)", which may itself hold spaces: state is [0], utime [11], stime [12].
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerSecond();
}

/** Resident memory of a process in MB (VmRSS from /proc/<pid>/status). */
export function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Is /proc there to read (Linux)? */
export function haveProc(): boolean {
  try {
    readFileSync(`/proc/${process.pid}/stat`, "utf8");
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM the given children (default: all), wait up to `graceMs`, then SIGKILL the rest. */
export async function stopChildren(which: Iterable<Child> = children, graceMs = 3_000): Promise<void> {
  const list = [...which].filter((c) => !c.exit);
  for (const c of list) c.proc.kill("SIGTERM");
  const timer = new Promise<void>((r) => setTimeout(r, graceMs).unref());
  await Promise.race([Promise.all(list.map((c) => c.exited)), timer]);
  for (const c of list) if (!c.exit) c.proc.kill("SIGKILL");
  await Promise.race([Promise.all(list.map((c) => c.exited)), new Promise<void>((r) => setTimeout(r, 1_000).unref())]);
}

/** Last resort on process exit: SIGKILL whatever is still running (synchronous). */
export function killAllNow(): void {
  for (const c of children) if (!c.exit) c.proc.kill("SIGKILL");
}
