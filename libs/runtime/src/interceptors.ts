import type { Interceptor, StreamResponse, UnaryResponse } from "@connectrpc/connect";
import { context, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import type { Logger } from "./log.js";
import { toConnectError } from "./errors.js";
import { tracingEnabled } from "./telemetry.js";

/**
 * A stream response whose messages pass through, with `onError` (which must throw) seeing a
 * failure mid-stream and `onEnd` running however the stream ends.
 */
function watchStream(res: StreamResponse, onError: (err: unknown) => never, onEnd?: () => void): StreamResponse {
  const inner = res.message;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* inner;
      } catch (err) {
        onError(err);
      } finally {
        onEnd?.();
      }
    })(),
  };
}

/**
 * Server side: every error leaving a handler becomes a ConnectError that carries its
 * TesseraError details; anything unexpected is logged with its cause and sent as Internal.
 * Wraps streams too, so an error in the middle of a stream is mapped the same way.
 */
export function createErrorInterceptor(log: Logger): Interceptor {
  const onInternal = (err: unknown) => log.error({ err }, "unexpected error in handler");
  return (next) => async (req) => {
    let res: UnaryResponse | StreamResponse;
    try {
      res = await next(req);
    } catch (err) {
      throw toConnectError(err, onInternal);
    }
    if (!res.stream) return res;
    return watchStream(res, (err) => {
      throw toConnectError(err, onInternal);
    });
  };
}

const headerGetter = {
  get(carrier: Headers, key: string) {
    return carrier.get(key) ?? undefined;
  },
  keys(carrier: Headers) {
    return [...carrier.keys()];
  },
};

/**
 * Server side: continue the caller's trace (from traceparent) in a server span, and run the
 * handler inside it so nested calls are children of it.
 */
export function createServerTracingInterceptor(): Interceptor {
  const tracer = trace.getTracer("tessera");
  return (next) => async (req) => {
    if (!tracingEnabled()) return next(req);
    const parent = propagation.extract(context.active(), req.header, headerGetter);
    const span = tracer.startSpan(
      `${req.service.typeName}/${req.method.name}`,
      { kind: SpanKind.SERVER, attributes: { "rpc.system": "connect", "rpc.method": req.method.name } },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    try {
      const res = await context.with(ctx, () => next(req));
      if (!res.stream) {
        span.end();
        return res;
      }
      return watchStream(
        res,
        (err) => {
          span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
          throw err;
        },
        () => span.end(),
      );
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      span.end();
      throw err;
    }
  };
}

/**
 * Run a plain-HTTP handler (a REST surface) inside a server span that continues the caller's
 * trace (W3C traceparent), so the calls it makes to other services join that trace.
 */
export function withServerSpan<T>(
  name: string,
  headers: Record<string, string | string[] | undefined>,
  fn: () => Promise<T>,
): Promise<T> {
  if (!tracingEnabled()) return fn();
  const carrier = new Headers();
  const tp = headers["traceparent"];
  if (typeof tp === "string") carrier.set("traceparent", tp);
  const ts = headers["tracestate"];
  if (typeof ts === "string") carrier.set("tracestate", ts);
  const parent = propagation.extract(context.active(), carrier, headerGetter);
  const span = trace.getTracer("tessera").startSpan(name, { kind: SpanKind.SERVER }, parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn();
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}
