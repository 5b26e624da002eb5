import type { RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { abortableSleep, backoffMs, EventBuffer, FlushWaiters, type Sequenced, Waker, within } from "./buffer.js";
import { createStderrLogger, errorFields, type PortLogger as Logger } from "@tessera/runtime";
import type { BatchHandler, EventConsumer, EventPublisher } from "./port.js";

/** Options for {@link createMemoryEventBus}; every field is optional. */
export interface MemoryEventBusOptions {
  /** Largest batch handed to the handler. Default 500. */
  maxBatch?: number;
  /** Longest the first event of a batch waits for the batch to fill. Default 50 ms. */
  maxWaitMs?: number;
  /**
   * Events waiting (not counting the batch in hand) beyond which the oldest are dropped and
   * counted in {@link MemoryEventBus.dropped}. Bounds memory when the handler is down.
   * Default 100 000.
   */
  maxQueued?: number;
  /** First retry delay after the handler throws; doubles per attempt. Default 50 ms. */
  retryInitialMs?: number;
  /** Longest retry delay. Default 5 000 ms. */
  retryMaxMs?: number;
  /** How long `close()` waits for the queue to drain before giving up (logged). Default 5 000 ms. */
  closeTimeoutMs?: number;
  /** Where warnings go (handler failures, drops). Default: JSON lines on stderr. */
  log?: Logger;
}

/**
 * The in-process event bus of the all-in-one topology: one object is both the publisher
 * (ingress) and the consumer (metering). Nothing survives the process; within it, delivery is
 * at least once with the same batching and retry behaviour as the Kafka implementation.
 *
 * Here "handed to the bus" means handled: `flush()` resolves once the consumer's handler has
 * resolved for every event published before the call, so it waits for a consumer to be
 * started; `close()` bounds that wait by `closeTimeoutMs`.
 */
export interface MemoryEventBus extends EventPublisher, EventConsumer {
  /** Events dropped because the queue was full or the bus was closed, since creation. */
  dropped(): number;
  /** The latest events handlers rejected (at most 1 000), with the reason: the in-process dead-letter queue. */
  deadLetters(): { event: RequestEvent; reason: string }[];
}

/** Dead letters the in-process bus keeps for inspection; older ones are only counted. */
const KEPT_DEAD_LETTERS = 1_000;

function positive(name: string, value: number, integer = true): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`createMemoryEventBus: ${name} must be a positive ${integer ? "integer" : "number"}, got ${value}`);
  }
  return value;
}

/** Creates an in-process event bus; see {@link MemoryEventBusOptions} for the defaults. */
export function createMemoryEventBus(opts: MemoryEventBusOptions = {}): MemoryEventBus {
  const maxBatch = positive("maxBatch", opts.maxBatch ?? 500);
  const maxWaitMs = positive("maxWaitMs", opts.maxWaitMs ?? 50, false);
  const maxQueued = positive("maxQueued", opts.maxQueued ?? 100_000);
  const retryInitialMs = positive("retryInitialMs", opts.retryInitialMs ?? 50, false);
  const retryMaxMs = positive("retryMaxMs", opts.retryMaxMs ?? 5_000, false);
  const closeTimeoutMs = positive("closeTimeoutMs", opts.closeTimeoutMs ?? 5_000, false);
  const log = opts.log ?? createStderrLogger("events.memory");

  const buffer = new EventBuffer<RequestEvent>(maxQueued);
  const flushes = new FlushWaiters();
  let inHand: Sequenced<RequestEvent>[] | undefined;
  let running: { ctl: AbortController; done: Promise<void> } | undefined;
  let closed = false;
  let droppedAfterClose = 0;
  let overflowing = false;
  let deadLettered = 0;
  let deadLetters: { event: RequestEvent; reason: string }[] = [];
  const waker = new Waker();

  const lowestOutstanding = () => inHand?.[0]?.seq ?? buffer.firstSeq;

  async function deliver(handler: BatchHandler, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (buffer.length === 0) {
        await waker.sleep(signal);
        continue;
      }
      // Let the batch fill for up to maxWaitMs, unless it is full or someone is flushing.
      const deadline = Date.now() + maxWaitMs;
      while (!signal.aborted && buffer.length < maxBatch && flushes.size === 0) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await waker.sleep(signal, left);
      }
      if (signal.aborted) break;

      const batch = buffer.take(maxBatch);
      inHand = batch;
      const events = batch.map((b) => b.value);
      for (let attempt = 0; ; attempt++) {
        try {
          const rejected = (await handler(events)) ?? [];
          if (rejected.length > 0) {
            deadLettered += rejected.length;
            deadLetters.push(...rejected.map((r) => ({ event: events[r.index]!, reason: r.reason })));
            if (deadLetters.length > KEPT_DEAD_LETTERS) deadLetters = deadLetters.slice(-KEPT_DEAD_LETTERS);
            log.warn({ count: rejected.length, reason: rejected[0]!.reason.slice(0, 200) }, "events rejected by the handler; kept as dead letters");
          }
          if (attempt > 0) log.info({ attempts: attempt + 1, events: events.length }, "event handler recovered");
          break;
        } catch (err) {
          // Log the 1st, 2nd, 4th, 8th … failure of a batch: visible, but not a flood.
          if ((attempt & (attempt + 1)) === 0) {
            log.warn({ ...errorFields(err), attempt: attempt + 1, events: events.length }, "event handler failed; will retry the batch");
          }
          if (!signal.aborted) await abortableSleep(backoffMs(attempt, retryInitialMs, retryMaxMs), signal);
          if (signal.aborted) {
            // Stopping: keep the batch for the next start instead of losing it.
            buffer.requeue(batch);
            inHand = undefined;
            return;
          }
        }
      }
      inHand = undefined;
      if (overflowing && buffer.length < maxQueued / 2) {
        overflowing = false;
        log.info({ dropped: buffer.droppedCount }, "event queue below half full again");
      }
      flushes.settle(lowestOutstanding());
    }
  }

  const bus: MemoryEventBus = {
    publish(event) {
      if (closed) {
        if (droppedAfterClose++ === 0) log.warn({}, "event published after close; dropped");
        return;
      }
      if (buffer.push(event)) {
        if (!overflowing) {
          overflowing = true;
          log.warn({ maxQueued }, "event queue full; dropping the oldest events");
        }
        flushes.settle(lowestOutstanding());
      }
      if (buffer.length === 1 || buffer.length >= maxBatch) waker.poke();
    },

    flush() {
      const p = flushes.wait(buffer.nextSeq - 1, lowestOutstanding());
      waker.poke();
      return p;
    },

    async close() {
      if (closed) return;
      closed = true;
      const timedOut = !(await within(bus.flush(), closeTimeoutMs));
      if (timedOut) {
        log.error({ pending: bus.pending(), closeTimeoutMs }, "event bus closed with undelivered events");
      }
    },

    pending() {
      return buffer.length + (inHand?.length ?? 0);
    },

    dropped() {
      return buffer.droppedCount + droppedAfterClose;
    },

    deadLettered() {
      return deadLettered;
    },

    deadLetters() {
      return [...deadLetters];
    },

    async start(handler) {
      if (running) throw new Error("memory event bus: consumer already started");
      const ctl = new AbortController();
      const done = deliver(handler, ctl.signal).catch((err: unknown) => {
        log.error(errorFields(err), "event delivery loop crashed");
      });
      running = { ctl, done };
    },

    async stop() {
      const r = running;
      if (!r) return;
      r.ctl.abort();
      await r.done;
      running = undefined;
    },
  };
  return bus;
}
