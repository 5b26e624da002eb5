import { Hash } from "@smithy/hash-node";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import type { AwsCredentials } from "@tessera/runtime";
import type { OutgoingRequest } from "../http-adapter.js";
import { ProviderError } from "../errors.js";

/** The SigV4 signing name of the Bedrock Runtime endpoints. */
export const BEDROCK_SIGNING_SERVICE = "bedrock";

/** Options for {@link createSigV4Signer}. */
export interface SigV4SignerOptions {
  /** Provider id, for error messages. */
  id: string;
  credentials: AwsCredentials;
  /** The region the endpoint is in, e.g. us-east-1. */
  region: string;
  /** Signing name; {@link BEDROCK_SIGNING_SERVICE} when unset. */
  service?: string;
}

/** The headers a signature adds (host is returned too: it is signed, so it must be sent as signed). */
const SIGNING_HEADERS = ["host", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "authorization"] as const;

function splitPath(path: string): { path: string; query: Record<string, string | string[]> } {
  const q = path.indexOf("?");
  if (q < 0) return { path, query: {} };
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(path.slice(q + 1))) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return { path: path.slice(0, q), query };
}

/**
 * The `sign` hook of the HTTP adapter for AWS Signature Version 4 (header-based, with the
 * payload hash): returns the headers to add to the request — Host, X-Amz-Date,
 * X-Amz-Content-Sha256, X-Amz-Security-Token when the credentials are temporary, and
 * Authorization — computed over the final method, path, headers and body. The path is signed
 * as sent, already URI-encoded (a model id's ':' is %3A), and encoded once more in the
 * canonical request, as SigV4 requires for every service but S3.
 *
 * The credentials stay in this closure; a signing failure never names them.
 */
export function createSigV4Signer(opts: SigV4SignerOptions): (req: OutgoingRequest) => Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: opts.service ?? BEDROCK_SIGNING_SERVICE,
    region: opts.region,
    credentials: { ...opts.credentials },
    sha256: Hash.bind(null, "sha256"),
  });
  return async (req) => {
    const url = new URL(req.origin);
    const { path, query } = splitPath(req.path);
    let signed: { headers: Record<string, string> };
    try {
      signed = await signer.sign(
        new HttpRequest({
          method: req.method,
          protocol: url.protocol,
          hostname: url.hostname,
          ...(url.port ? { port: Number(url.port) } : {}),
          path,
          query,
          headers: { ...req.headers, host: url.host },
          body: req.body,
        }),
      );
    } catch {
      throw new ProviderError("upstream_error", `${opts.id}: the request could not be signed with the configured AWS credentials`, false, { code: "upstream_auth" });
    }
    const out: Record<string, string> = {};
    for (const name of SIGNING_HEADERS) {
      const v = signed.headers[name];
      if (v !== undefined) out[name] = v;
    }
    return out;
  };
}
