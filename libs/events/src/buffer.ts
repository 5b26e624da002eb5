/** An item with its publish-order sequence number. */
export interface Sequenced<T> {
  seq: number;
  value: T;
}

/**
 * A bounded FIFO of events waiting to be delivered, shared by the in-process bus and the Kafka
 * publisher. Every item gets a sequence number in publish order; when the buffer is full the
 * oldest waiting item is dropped and counted. Flushes wait for "everything up to sequence N
 * settled" (see {@link FlushWaiters}).
 */
export class EventBuffer<T> {
  private items: (Sequenced<T> | undefined)[] = [];
  private head = 0;
  private seq = 0;
  /** Items dropped because the buffer was full (or cleared), since creation. */
  droppedCount = 0;

  constructor(readonly capacity: number) {}

  /** Items waiting. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** The sequence number the next pushed item gets. */
  get nextSeq(): number {
    return this.seq;
  }

  /** The sequence number of the oldest waiting item, or {@link nextSeq} when empty. */
  get firstSeq(): number {
    return this.items[this.head]?.seq ?? this.seq;
  }

  /** Appends; returns true when the oldest item had to be dropped to make room. */
  push(value: T): boolean {
    let dropped = false;
    if (this.length >= this.capacity) {
      this.items[this.head] = undefined;
      this.head++;
      this.droppedCount++;
      dropped = true;
    }
    this.items.push({ seq: this.seq++, value });
    this.compact();
    return dropped;
  }

  /** Removes and returns up to `n` items from the head. */
  take(n: number): Sequenced<T>[] {
    const end = this.head + Math.min(n, this.length);
    const out = this.items.slice(this.head, end) as Sequenced<T>[];
    this.items.fill(undefined, this.head, end);
    this.head = end;
    this.compact();
    return out;
  }

  /**
   * Puts a batch taken with {@link take} back at the head, in order (its delivery failed and
   * the owner is stopping). May exceed capacity by that one batch.
   */
  requeue(batch: Sequenced<T>[]): void {
    if (batch.length === 0) return;
    this.items = [...batch, ...(this.items.slice(this.head) as Sequenced<T>[])];
    this.head = 0;
  }

  /** Drops every waiting item (counted); returns how many. */
  clear(): number {
    const n = this.length;
    this.droppedCount += n;
    this.items = [];
    this.head = 0;
    return n;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * Promises waiting for "every item published before the flush call has settled" (delivered,
 * or dropped and counted). The owner calls {@link settle} with the lowest sequence number
 * still outstanding whenever that may have moved.
 */
export class FlushWaiters {
  private waiters: { target: number; resolve: () => void }[] = [];

  /** Resolves once `settle` reports a lowest outstanding sequence above `lastSeq`. */
  wait(lastSeq: number, lowestOutstanding: number): Promise<void> {
    if (lowestOutstanding > lastSeq) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target: lastSeq, resolve }));
  }

  settle(lowestOutstanding: number): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (lowestOutstanding > w.target) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Releases every waiter (used when giving up, e.g. on close). */
  releaseAll(): void {
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
  }

  get size(): number {
    return this.waiters.length;
  }
}

/** Exponential backoff, capped, with jitter: a random delay between half and all of the ceiling. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** A sleep that can be cut short (on stop or close). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Lets a background loop sleep until there is work: `sleep` resolves on `poke`, on abort, or
 * after `ms` when given. One sleeper at a time. No timer is armed while idle without `ms`, so
 * an idle loop never keeps the process alive.
 */
export class Waker {
  private wake: (() => void) | undefined;

  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  sleep(signal: AbortSignal, ms?: number): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        signal.removeEventListener("abort", done);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      this.wake = done;
      if (ms !== undefined) timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/** Resolves true if `p` settles within `ms`, false otherwise; never rejects. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
