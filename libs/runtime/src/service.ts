import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ServiceBinding } from "./binding.js";
import { loadConfig, type Config } from "./config.js";
import { createLogger, type Logger } from "./log.js";
import { startServer, type NodeHandler, type RunningServer } from "./server.js";
import { onShutdown } from "./shutdown.js";
import { setupTelemetry } from "./telemetry.js";
import { createMetricsRegistry, type MetricsRegistry } from "./metrics.js";

/**
 * The default configuration file shipped in the repo (config/tessera.yaml), found by walking
 * up from this module, so it resolves from the sources and from a bundle in dist/ alike.
 */
export const DEFAULT_CONFIG_PATH = findUp("config/tessera.yaml", dirname(fileURLToPath(import.meta.url)));

function findUp(rel: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, rel);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return join(process.cwd(), rel);
  }
}

/** The mesh names of the services, as keys of `mesh` in the configuration. */
export type ServiceName = "authz" | "redaction" | "router" | "prompt_registry" | "metering" | "ingress";

/** What a service's build() gives the runtime. */
export interface BuiltService {
  /** The Connect services it serves, with their implementations. */
  bindings: ServiceBinding[];
  rest?: NodeHandler;
  /** Background work to start after the port is open (e.g. consumers). */
  start?(): Promise<void>;
  /** Release engines and flush; called after the server has drained. */
  stop(): Promise<void>;
}

/**
 * Run one service as its own process (mesh mode): load and validate configuration, set up
 * tracing and a metrics registry (served at /metrics), build the service, listen where `mesh.<name>.listen` says (ingress: `server`), and
 * shut down gracefully on SIGINT/SIGTERM. Start-up errors print what to fix and exit 1.
 */
export async function runService(
  name: ServiceName,
  build: (cfg: Config, log: Logger, metrics: MetricsRegistry) => Promise<BuiltService>,
): Promise<RunningServer> {
  const log = createLogger({ name });
  let cfg: Config;
  try {
    cfg = loadConfig(DEFAULT_CONFIG_PATH);
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const telemetry = setupTelemetry({
    serviceName: `tessera-${name}`,
    otlpTracesUrl: cfg.telemetry.otlp_traces_url,
    sampleRatio: cfg.telemetry.sample_ratio,
  });
  const listen =
    name === "ingress" ? { host: cfg.server.host, port: cfg.server.port } : cfg.mesh?.[name]?.listen;
  if (!listen) {
    process.stderr.write(`${name}: mesh.${name}.listen is not configured; add it to the configuration file\n`);
    process.exit(1);
  }
  const metrics = createMetricsRegistry(name);
  const svc = await build(cfg, log, metrics);
  const server = await startServer({
    name,
    host: listen.host,
    port: listen.port,
    bindings: svc.bindings,
    rest: svc.rest,
    log,
    readMaxBytes: cfg.server.max_body_bytes,
    drainTimeoutMs: cfg.server.drain_timeout_ms,
    metrics,
  });
  await svc.start?.();
  onShutdown(log, async () => {
    await server.close();
    await svc.stop();
    await telemetry.shutdown();
  });
  return server;
}

/** The URL other services use to reach `name` in the mesh. */
export function meshUrl(cfg: Config, name: Exclude<ServiceName, "ingress">): string {
  const s = cfg.mesh?.[name];
  if (!s) throw new Error(`mesh.${name} is not configured; add it to the configuration file`);
  return s.url ?? `http://${s.listen.host}:${s.listen.port}`;
}
