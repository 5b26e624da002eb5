import type { RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";
import type { DeadLetter, EventConsumer } from "@tessera/events";
import { RowsRejectedError, type UsageStore } from "@tessera/usage-store";
import type { Logger } from "@tessera/runtime";
import type { EventPricer } from "./pricer.js";

/** What the pipeline has done since start; read by /metrics when scraped. */
export interface PipelineCounts {
  /** Events written to the store. */
  stored: number;
  /** Events the store already had (redeliveries), skipped. */
  duplicates: number;
  /** Events handed back to the consumer as dead letters (invalid, or refused by the store). */
  deadLettered: number;
  /** Batches that failed for a transient reason and were retried. */
  failedBatches: number;
}

/** Dependencies of {@link createMeteringPipeline}. */
export interface MeteringPipelineDeps {
  consumer: EventConsumer;
  store: UsageStore;
  /** Prices each event (cost by kind, at the event's time) before it is stored. */
  pricer: EventPricer;
  log: Logger;
  /** Told each insert's duration in seconds (the batch-insert histogram). */
  onInsert?: (seconds: number) => void;
}

/** An event of the batch in hand, with its place in the batch (for dead letters). */
interface Item {
  event: RequestEvent;
  index: number;
}

/** Why an event can never be stored, or undefined when it can. */
function invalid(e: RequestEvent): string | undefined {
  if (e.requestId === "") return "invalid: request_id is empty (it is the deduplication key)";
  return undefined;
}

/**
 * Consume request events and store them (priced first). The consumer acknowledges a batch only after the
 * store has it, and the store dedups by request id, so a crash anywhere loses nothing and
 * counts nothing twice.
 *
 * A failure is either transient (the store unreachable, a timeout): the handler throws, the
 * consumer retries the batch with capped backoff and commits nothing; or it is about some rows
 * ({@link RowsRejectedError}): the batch is split in halves until the refused events stand
 * alone, the others are stored, and the refused ones are returned as dead letters, so one bad
 * event never holds back its neighbours.
 */
export function createMeteringPipeline(deps: MeteringPipelineDeps) {
  const counts: PipelineCounts = { stored: 0, duplicates: 0, deadLettered: 0, failedBatches: 0 };

  async function store(items: Item[], letters: DeadLetter[]): Promise<void> {
    if (items.length === 0) return;
    const t0 = performance.now();
    try {
      const stored = await deps.store.insert(items.map((x) => x.event));
      deps.onInsert?.((performance.now() - t0) / 1000);
      counts.stored += stored;
      counts.duplicates += items.length - stored;
    } catch (err) {
      if (!(err instanceof RowsRejectedError)) throw err;
      if (items.length === 1) {
        letters.push({ index: items[0]!.index, reason: `rejected by the usage store: ${err.message}` });
        return;
      }
      const mid = items.length >>> 1;
      await store(items.slice(0, mid), letters);
      await store(items.slice(mid), letters);
    }
  }

  async function handle(events: RequestEvent[]): Promise<DeadLetter[]> {
    const letters: DeadLetter[] = [];
    const items: Item[] = [];
    events.forEach((event, index) => {
      const why = invalid(event);
      if (why) letters.push({ index, reason: why });
      else items.push({ event, index });
    });
    deps.pricer.price(items.map((x) => x.event));
    try {
      await store(items, letters);
    } catch (err) {
      counts.failedBatches++;
      throw err;
    }
    if (letters.length > 0) {
      counts.deadLettered += letters.length;
      deps.log.warn({ batch: events.length, rejected: letters.length, reason: letters[0]!.reason.slice(0, 200) }, "request events that cannot be stored go to the dead letters");
    }
    deps.log.debug({ batch: events.length, stored: counts.stored }, "stored request events");
    return letters;
  }

  return {
    async start(): Promise<void> {
      await deps.store.migrate();
      await deps.consumer.start(handle);
    },
    async stop(): Promise<void> {
      await deps.consumer.stop();
    },
    /** Counts since start (a live object: read it when needed). */
    counts: (): Readonly<PipelineCounts> => counts,
  };
}
