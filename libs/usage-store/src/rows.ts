import { type RequestEvent, Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";

/** Whether a request counts as an error in usage totals: an HTTP error status or an error type. */
export function isError(e: { statusCode: number; errorType: string }): boolean {
  return e.statusCode >= 400 || e.errorType !== "";
}

/** The model usage is reported under: the one that served, else the one asked for. */
export function usageModel(e: { modelServed: string; modelRequested: string }): string {
  return e.modelServed !== "" ? e.modelServed : e.modelRequested;
}

/** The lowercase surface name stored in the `surface` column ("openai", "grpc", …). */
export function surfaceName(s: Surface): string {
  const name = Surface[s] as string | undefined;
  return name === undefined ? String(s) : name.toLowerCase();
}

/** Keeps the first event per request_id, in order. */
export function dedupById(events: RequestEvent[]): RequestEvent[] {
  const seen = new Set<string>();
  const out: RequestEvent[] = [];
  for (const e of events) {
    if (seen.has(e.requestId)) continue;
    seen.add(e.requestId);
    out.push(e);
  }
  return out;
}

/** A bounded set that forgets its oldest members first. */
export class RecentIds {
  private ids = new Set<string>();
  constructor(private readonly capacity: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    if (this.capacity <= 0 || this.ids.has(id)) return;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
  }
}
