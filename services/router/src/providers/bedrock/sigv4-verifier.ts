import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/**
 * An independent AWS Signature Version 4 verifier for the Bedrock fake, written from AWS's
 * description of the algorithm ("Create a signed AWS API request" in the IAM user guide)
 * with node:crypto only, so a signer bug cannot be hidden by the same library checking its
 * own output. Header-based signatures with the AWS4-HMAC-SHA256 algorithm only.
 */

/** A key pair the verifier knows (sessionToken for temporary credentials). */
export interface SigV4Identity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A request as the server received it. */
export interface SigV4Request {
  method: string;
  /** The path and query as they came on the request line (still URI-encoded). */
  rawPath: string;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

/** Where and when the server expects the signature to be valid. */
export interface SigV4Expectation {
  region: string;
  service: string;
  identities: readonly SigV4Identity[];
  /** The server's clock (now when unset); signatures more than 15 minutes off are expired. */
  now?: Date;
}

/** The verdict, with AWS's error type and message when the request is refused. */
export type SigV4Verdict = { ok: true; accessKeyId: string } | { ok: false; status: 400 | 403; errorType: string; message: string };

const ALGORITHM = "AWS4-HMAC-SHA256";
const MAX_SKEW_MS = 15 * 60 * 1000;

/** The message AWS answers a wrong signature with. */
export const SIGNATURE_MISMATCH_MESSAGE =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/** Hex SHA-256. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/**
 * URI-encode as SigV4 specifies: every byte except the unreserved characters A–Z a–z 0–9
 * - . _ ~ becomes %XY with upper-case hex; a space is %20.
 */
export function uriEncode(s: string): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The canonical URI: each path segment URI-encoded once more (the path arrives encoded once;
 * every service but S3 signs it doubly encoded), slashes kept.
 */
export function canonicalUri(rawPath: string): string {
  const path = rawPath.split("?")[0] || "/";
  return path
    .split("/")
    .map((seg) => uriEncode(seg))
    .join("/");
}

/** The canonical query: parameters decoded, re-encoded, sorted by name then value. */
export function canonicalQuery(rawPath: string): string {
  const q = rawPath.indexOf("?");
  if (q < 0) return "";
  return rawPath
    .slice(q + 1)
    .split("&")
    .filter((p) => p !== "")
    .map((p) => {
      const eq = p.indexOf("=");
      const k = decodeURIComponent(eq < 0 ? p : p.slice(0, eq));
      const v = eq < 0 ? "" : decodeURIComponent(p.slice(eq + 1));
      return [uriEncode(k), uriEncode(v)] as const;
    })
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v.join(",") : v).trim().replace(/\s+/g, " ");
}

/** The canonical request for the named signed headers (undefined when one is missing). */
export function canonicalRequest(req: SigV4Request, signedHeaders: readonly string[], payloadHash: string): string | undefined {
  const lines: string[] = [];
  for (const name of signedHeaders) {
    const v = headerValue(req.headers, name);
    if (v === undefined) return undefined;
    lines.push(`${name}:${v}`);
  }
  return [req.method.toUpperCase(), canonicalUri(req.rawPath), canonicalQuery(req.rawPath), `${lines.join("\n")}\n`, signedHeaders.join(";"), payloadHash].join("\n");
}

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), "aws4_request");
}

/** The hex signature of a canonical request at amzDate (YYYYMMDD'T'HHMMSS'Z') in a scope. */
export function signature(canonical: string, amzDate: string, scope: { date: string; region: string; service: string }, secretAccessKey: string): string {
  const stringToSign = [ALGORITHM, amzDate, `${scope.date}/${scope.region}/${scope.service}/aws4_request`, sha256Hex(canonical)].join("\n");
  return createHmac("sha256", signingKey(secretAccessKey, scope.date, scope.region, scope.service)).update(stringToSign, "utf8").digest("hex");
}

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9\-;]+),\s*Signature=([0-9a-f]{64})$/;

function refuse(status: 400 | 403, errorType: string, message: string): SigV4Verdict {
  return { ok: false, status, errorType, message };
}

function parseAmzDate(v: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v);
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined;
}

/**
 * Check a request's Authorization header against the known identities: scope (date, region,
 * service), X-Amz-Date within 15 minutes, Host and X-Amz-Date signed, the session token of
 * temporary credentials present and signed, X-Amz-Content-Sha256 (when sent) equal to the
 * body's hash, and the signature itself. Refusals carry the error types AWS uses.
 */
export function verifySigV4(req: SigV4Request, expect: SigV4Expectation): SigV4Verdict {
  const auth = headerValue(req.headers, "authorization");
  if (!auth) return refuse(403, "MissingAuthenticationTokenException", "Missing Authentication Token");
  const m = AUTH.exec(auth);
  if (!m) return refuse(400, "IncompleteSignatureException", `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters with algorithm ${ALGORITHM}.`);
  const [accessKeyId, date, region, service, signedList, given] = [m[1]!, m[2]!, m[3]!, m[4]!, m[5]!, m[6]!];
  const identity = expect.identities.find((i) => i.accessKeyId === accessKeyId);
  if (!identity) return refuse(403, "UnrecognizedClientException", "The security token included in the request is invalid.");
  if (region !== expect.region) return refuse(403, "InvalidSignatureException", `Credential should be scoped to a valid region, not '${region}'.`);
  if (service !== expect.service) return refuse(403, "InvalidSignatureException", `Credential should be scoped to correct service: '${expect.service}'.`);
  const signed = signedList.split(";");
  if (!signed.includes("host") || !signed.includes("x-amz-date"))
    return refuse(403, "InvalidSignatureException", "'Host' and 'X-Amz-Date' must be among the signed headers.");
  const amzDate = headerValue(req.headers, "x-amz-date") ?? "";
  const at = parseAmzDate(amzDate);
  if (!at || !amzDate.startsWith(date)) return refuse(403, "InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.");
  const now = expect.now ?? new Date();
  if (Math.abs(now.getTime() - at.getTime()) > MAX_SKEW_MS) return refuse(403, "InvalidSignatureException", `Signature expired: ${amzDate} is now earlier or later than the allowed window.`);
  const token = headerValue(req.headers, "x-amz-security-token");
  if (identity.sessionToken !== undefined || token !== undefined) {
    if (token !== identity.sessionToken) return refuse(403, "UnrecognizedClientException", "The security token included in the request is invalid.");
    if (!signed.includes("x-amz-security-token")) return refuse(403, "InvalidSignatureException", "'X-Amz-Security-Token' must be among the signed headers.");
  }
  const payloadHash = sha256Hex(req.body);
  const declared = headerValue(req.headers, "x-amz-content-sha256");
  if (declared !== undefined && declared !== payloadHash) return refuse(400, "ValidationException", "The provided 'x-amz-content-sha256' header does not match what was computed.");
  const canonical = canonicalRequest(req, signed, payloadHash);
  if (canonical === undefined) return refuse(403, "InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE);
  const expected = signature(canonical, amzDate, { date, region, service }, identity.secretAccessKey);
  if (!timingSafeEqual(Buffer.from(expected, "hex"), Buffer.from(given, "hex"))) return refuse(403, "InvalidSignatureException", SIGNATURE_MISMATCH_MESSAGE);
  return { ok: true, accessKeyId };
}
