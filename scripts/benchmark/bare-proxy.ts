/**
 * The floor: the least a Node reverse proxy can do — `http.createServer` in front of an
 * `undici.Pool`, streaming bodies both ways, no parsing. Usage: `bare-proxy.ts <upstream-url>`.
 * Prints `PROXY_URL <url>` on stdout once listening on a free loopback port.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream";
import { Pool, type Dispatcher } from "undici";

const upstream = process.argv[2];
if (!upstream) {
  process.stderr.write("usage: bare-proxy.ts <upstream-url>\n");
  process.exit(2);
}
const pool = new Pool(new URL(upstream).origin, { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 });

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the ones undici sets itself. */
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"]);

function copyHeaders(from: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const k in from) {
    const v = from[k];
    if (v !== undefined && !HOP.has(k)) out[k] = v;
  }
  return out;
}

const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  pool
    .request({
      method: req.method as Dispatcher.HttpMethod,
      path: req.url ?? "/",
      headers: copyHeaders(req.headers),
      body: req.method === "GET" || req.method === "HEAD" ? null : req,
    })
    .then(
      ({ statusCode, headers, body }) => {
        res.writeHead(statusCode, copyHeaders(headers));
        pipeline(body, res, (err) => {
          if (err) res.destroy(err);
        });
      },
      (err: Error) => {
        if (res.headersSent) return res.destroy(err);
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`bare proxy: ${err.message}`);
      },
    );
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
process.stdout.write(`PROXY_URL http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
const stop = () => {
  server.closeAllConnections();
  server.close();
  pool.close().finally(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
