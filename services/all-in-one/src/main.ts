import { createLogger, DEFAULT_CONFIG_PATH, loadConfig, onShutdown, setupTelemetry } from "@tessera/runtime";
import { startAllInOne } from "./compose.js";

const log = createLogger({ name: "tessera" });
let cfg;
try {
  cfg = loadConfig(DEFAULT_CONFIG_PATH);
} catch (err) {
  process.stderr.write(`tessera: ${(err as Error).message}\n`);
  process.exit(1);
}
const telemetry = setupTelemetry({ serviceName: "tessera", otlpTracesUrl: cfg.telemetry.otlp_traces_url, sampleRatio: cfg.telemetry.sample_ratio });
try {
  const gw = await startAllInOne(cfg, log);
  process.stderr.write(
    `tessera: all-in-one gateway on ${gw.server.url} — try:\n` +
      `  curl ${gw.server.url}/v1/chat/completions -H 'Authorization: Bearer tessera-demo-key' ` +
      `-H 'Content-Type: application/json' -d '{"model":"demo","messages":[{"role":"user","content":"Hello from me@example.com"}]}'\n`,
  );
  onShutdown(log, async () => {
    await gw.stop();
    await telemetry.shutdown();
  });
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "EADDRINUSE")
    process.stderr.write(`tessera: port ${cfg.server.port} is in use; set TESSERA_PORT to a free port\n`);
  else process.stderr.write(`tessera: failed to start: ${e.stack ?? e.message}\n`);
  process.exit(1);
}
