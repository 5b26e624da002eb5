import type { EventConsumer } from "@tessera/events";
import type { UsageStore } from "@tessera/usage-store";
import type { Logger } from "@tessera/runtime";
import type { EventPricer } from "./pricer.js";

/**
 * Consume request events and store them (priced first). The consumer acknowledges a batch only after the
 * store has it, and the store dedups by request id, so a crash anywhere loses nothing and
 * counts nothing twice.
 */
export function createMeteringPipeline(deps: { consumer: EventConsumer; store: UsageStore; pricer: EventPricer; log: Logger }) {
  let stored = 0;
  return {
    async start(): Promise<void> {
      await deps.store.migrate();
      await deps.consumer.start(async (events) => {
        deps.pricer.price(events);
        await deps.store.insert(events);
        stored += events.length;
        deps.log.debug({ batch: events.length, stored }, "stored request events");
      });
    },
    async stop(): Promise<void> {
      await deps.consumer.stop();
    },
    /** Events stored since start. */
    stored: () => stored,
  };
}
