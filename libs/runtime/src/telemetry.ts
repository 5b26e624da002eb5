import { context, propagation } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";

/** Options for {@link setupTelemetry}. */
export interface TelemetryOptions {
  /** service.name of the spans; "tessera" all-in-one, the service name in the mesh. */
  serviceName: string;
  /** OTLP/HTTP endpoint for traces; no export when unset. */
  otlpTracesUrl?: string | undefined;
  /** Fraction of new traces sampled (callers' sampling decisions are kept). */
  sampleRatio?: number;
  /** Extra span processors (tests pass an in-memory exporter through a SimpleSpanProcessor). */
  processors?: SpanProcessor[];
}

/** Handle to flush and stop tracing on shutdown. */
export interface Telemetry {
  shutdown(): Promise<void>;
}

let installed: NodeTracerProvider | undefined;

/**
 * Install W3C trace-context propagation and, when an exporter or processor is configured, a
 * tracer provider with an async context manager, so one trace spans every service hop. With
 * neither, tracing is off and costs nothing per call: the interceptors and REST spans
 * short-circuit.
 */
export function setupTelemetry(opts: TelemetryOptions): Telemetry {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const processors: SpanProcessor[] = [...(opts.processors ?? [])];
  if (opts.otlpTracesUrl) {
    const exporter: SpanExporter = new OTLPTraceExporter({ url: opts.otlpTracesUrl });
    processors.push(new BatchSpanProcessor(exporter));
  }
  if (processors.length === 0 || installed) {
    // Nothing is exported: skip the async context manager, whose promise hooks cost every
    // call (measured), and let the tracing helpers short-circuit.
    return { shutdown: async () => {} };
  }
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(opts.sampleRatio ?? 1) }),
    spanProcessors: processors,
  });
  provider.register();
  installed = provider;
  return {
    shutdown: async () => {
      await provider.shutdown();
      installed = undefined;
    },
  };
}

/** Whether spans are recorded and exported in this process (see {@link setupTelemetry}). */
export function tracingEnabled(): boolean {
  return installed !== undefined;
}
