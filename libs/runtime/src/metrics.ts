import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** A process's Prometheus metrics, served as text at `GET /metrics`. */
export type MetricsRegistry = Registry;

/**
 * A registry for one process: Node's process metrics (CPU, memory, event-loop delay, GC) and
 * `service` as a label on every series, so the mesh's processes can be told apart.
 */
export function createMetricsRegistry(service: string): MetricsRegistry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  // Coarser than the default 10 ms: the event-loop monitor wakes the process at this rate.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  return registry;
}

/**
 * A counter whose value a component already keeps as a plain number on its hot path, read when
 * Prometheus scrapes: recording it costs nothing per event.
 */
export function observeCounter(registry: MetricsRegistry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge read when Prometheus scrapes (see {@link observeCounter}). */
export function observeGauge(registry: MetricsRegistry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** A histogram of durations in seconds; `observe` it once per operation, not per event. */
export function secondsHistogram(registry: MetricsRegistry, name: string, help: string, buckets: number[]): (seconds: number) => void {
  const h = new Histogram({ name, help, buckets, registers: [registry] });
  return (seconds) => h.observe(seconds);
}
