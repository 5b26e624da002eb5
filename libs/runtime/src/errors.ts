import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The user-safe kinds of failure. Each maps to one Connect code and one HTTP status, and each
 * surface renders it in its own format. Anything that is not a TesseraError becomes Internal,
 * with the cause kept for the logs only.
 */
export type ErrorKind =
  | "invalid_request"
  | "unauthenticated"
  | "permission_denied"
  | "not_found"
  | "conflict"
  | "rate_limited"
  | "payment_required"
  | "payload_too_large"
  | "upstream_error"
  | "unavailable"
  | "timeout"
  | "internal";

interface KindInfo {
  code: Code;
  status: number;
}

const KINDS: Record<ErrorKind, KindInfo> = {
  invalid_request: { code: Code.InvalidArgument, status: 400 },
  unauthenticated: { code: Code.Unauthenticated, status: 401 },
  permission_denied: { code: Code.PermissionDenied, status: 403 },
  not_found: { code: Code.NotFound, status: 404 },
  /** The thing to create exists already, or the change does not fit its state. */
  conflict: { code: Code.AlreadyExists, status: 409 },
  payload_too_large: { code: Code.ResourceExhausted, status: 413 },
  rate_limited: { code: Code.ResourceExhausted, status: 429 },
  /** A spent budget or token quota: retrying does not help until the period rolls over. */
  payment_required: { code: Code.ResourceExhausted, status: 402 },
  upstream_error: { code: Code.Unavailable, status: 502 },
  unavailable: { code: Code.Unavailable, status: 503 },
  timeout: { code: Code.DeadlineExceeded, status: 504 },
  internal: { code: Code.Internal, status: 500 },
};

/** Headers that carry a TesseraError's details across a Connect hop. */
const H_KIND = "tessera-error-kind";
const H_PARAM = "tessera-error-param";
const H_CODE = "tessera-error-code";
const H_RETRY = "retry-after";
const H_STATUS = "tessera-error-status";
const H_RATELIMIT = "x-ratelimit-";

/** Details a surface may show the caller. */
export interface ErrorDetails {
  /** The request field at fault, e.g. "messages[0].role". */
  param?: string;
  /** A machine-readable code, e.g. "model_not_found", "invalid_api_key". */
  code?: string;
  /** Seconds the caller should wait before retrying (429, 503). */
  retryAfterS?: number;
  /** An exact HTTP status when the kind's default is not precise enough (e.g. upstream 400). */
  status?: number;
  /** Extra answer headers, e.g. x-ratelimit-* on a 429 (only x-ratelimit-* cross a hop). */
  headers?: Record<string, string>;
}

/** A failure whose message is safe to show the caller. */
export class TesseraError extends Error {
  override readonly name = "TesseraError";
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
  }

  /** The HTTP status for REST surfaces. */
  get status(): number {
    return this.details.status ?? KINDS[this.kind].status;
  }

  /** The Connect/gRPC code. */
  get code(): Code {
    return KINDS[this.kind].code;
  }

  /** Encode as a ConnectError, details in metadata, so the kind survives a hop. */
  toConnectError(): ConnectError {
    const md = new Headers();
    md.set(H_KIND, this.kind);
    if (this.details.param) md.set(H_PARAM, this.details.param);
    if (this.details.code) md.set(H_CODE, this.details.code);
    if (this.details.retryAfterS !== undefined) md.set(H_RETRY, String(this.details.retryAfterS));
    if (this.details.status !== undefined) md.set(H_STATUS, String(this.details.status));
    for (const [k, v] of Object.entries(this.details.headers ?? {})) if (k.startsWith(H_RATELIMIT)) md.set(k, v);
    return new ConnectError(this.message, this.code, md, undefined, this);
  }
}

const CODE_TO_KIND: Partial<Record<Code, ErrorKind>> = {
  [Code.InvalidArgument]: "invalid_request",
  [Code.Unauthenticated]: "unauthenticated",
  [Code.PermissionDenied]: "permission_denied",
  [Code.NotFound]: "not_found",
  [Code.AlreadyExists]: "conflict",
  [Code.ResourceExhausted]: "rate_limited",
  [Code.Unavailable]: "unavailable",
  [Code.DeadlineExceeded]: "timeout",
  [Code.FailedPrecondition]: "invalid_request",
  [Code.OutOfRange]: "invalid_request",
};

/**
 * Turn anything thrown into a TesseraError. ConnectErrors from another service keep their
 * kind and details; anything else is internal, its message hidden from the caller.
 */
export function toTesseraError(err: unknown): TesseraError {
  if (err instanceof TesseraError) return err;
  if (err instanceof ConnectError) {
    if (err.cause instanceof TesseraError) return err.cause;
    const md = err.metadata;
    const kindHeader = md.get(H_KIND) as ErrorKind | null;
    const kind: ErrorKind =
      kindHeader && kindHeader in KINDS ? kindHeader : (CODE_TO_KIND[err.code] ?? "internal");
    const details: ErrorDetails = {};
    const param = md.get(H_PARAM);
    if (param) details.param = param;
    const code = md.get(H_CODE);
    if (code) details.code = code;
    const retry = md.get(H_RETRY);
    if (retry && Number.isFinite(Number(retry))) details.retryAfterS = Number(retry);
    const status = md.get(H_STATUS);
    if (status && Number.isFinite(Number(status))) details.status = Number(status);
    md.forEach((v, k) => {
      if (k.startsWith(H_RATELIMIT)) (details.headers ??= {})[k] = v;
    });
    const message = kind === "internal" ? "internal error" : err.rawMessage;
    return new TesseraError(kind, message, details);
  }
  return new TesseraError("internal", "internal error");
}

/**
 * The interceptor-free way a service implementation reports errors: wrap the handler so any
 * TesseraError leaves as a ConnectError carrying its details, and anything unexpected is
 * logged with its cause and leaves as a bare Internal.
 */
export function toConnectError(err: unknown, onInternal?: (err: unknown) => void): ConnectError {
  if (err instanceof TesseraError) return err.toConnectError();
  if (err instanceof ConnectError) return err;
  onInternal?.(err);
  return new ConnectError("internal error", Code.Internal);
}
