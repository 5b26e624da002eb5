import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { type FileHandle, open, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errorFields, type PortLogger as Logger } from "@tessera/runtime";

/** Options for {@link openSpool}. */
export interface SpoolOptions {
  /** Directory of this process's spool; created if missing. One process per directory. */
  dir: string;
  /** Most bytes on disk; beyond it the oldest segment is dropped (and its events counted). */
  maxBytes: number;
  /** Size at which a segment file is closed and a new one started. Default: maxBytes / 8, at most 16 MiB. */
  segmentBytes?: number;
  /** The setting that sets maxBytes, named in the warning when the spool overflows. */
  maxBytesSetting?: string;
  log: Logger;
}

/** Records read from the spool, to be {@link Spool.commit}ted once the broker has them. */
export interface SpoolBatch {
  records: Uint8Array[];
  /** Where the cursor moves on commit. */
  end: { segment: number; offset: number };
}

interface Segment {
  id: number;
  path: string;
  /** Bytes appended, written or still queued. */
  bytes: number;
  /** Records not yet committed (the front segment: those after the cursor). */
  records: number;
}

const HEADER = 4;
const READ_CHUNK = 1 << 20;
const SEGMENT_RE = /^(\d{16})\.seg$/;
const CURSOR = "cursor";
const LOCK = "lock";

const segmentName = (id: number) => `${String(id).padStart(16, "0")}.seg`;

/**
 * Opens (or creates) a spool: an append-only, bounded on-disk FIFO of encoded events, where the
 * Kafka publisher puts what it cannot send. Records are length-prefixed (4-byte big-endian)
 * protobuf bytes in numbered segment files; `cursor` holds how far the sender got, so a
 * restarted process resumes after the last acknowledged batch (a crash between a send and the
 * cursor write resends that batch; consumers dedup by request_id). A torn record at the end of
 * the last segment (a crash mid-write) is cut off.
 *
 * Opening reads the directory synchronously, once, at start-up. After that `append` never
 * blocks: it queues the bytes and a background writer appends them; reads wait for the
 * writer. Writes are not fsynced one by one (a process crash loses nothing the OS has; a power
 * cut may lose the last moments), only on close.
 */
export function openSpool(opts: SpoolOptions): Spool {
  return new Spool(opts);
}

/** See {@link openSpool}. */
export class Spool {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly log: Logger;
  private readonly setting: string;
  private segments: Segment[] = [];
  private nextId = 1;
  /** Byte offset of the cursor in the front segment. */
  private offset = 0;
  private queue: { seg: Segment; buf: Uint8Array }[] = [];
  private handles = new Map<number, FileHandle>();
  private doomed: Segment[] = [];
  private writing: Promise<void> | undefined;
  private cursorWrite: Promise<void> = Promise.resolve();
  private overflowing = false;
  private closed = false;
  /** Records dropped because the spool was full or a write failed, since open. */
  droppedCount = 0;

  constructor(opts: SpoolOptions) {
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.segmentBytes = opts.segmentBytes ?? Math.min(16 << 20, Math.max(1, Math.floor(opts.maxBytes / 8)));
    this.log = opts.log;
    this.setting = opts.maxBytesSetting ?? "maxBytes";
    if (!(this.maxBytes > 0)) throw new Error(`spool: ${this.setting} must be positive, got ${opts.maxBytes}`);
    if (!(this.segmentBytes > 0 && this.segmentBytes <= this.maxBytes))
      throw new Error(`spool: segmentBytes must be positive and at most ${this.setting}, got ${this.segmentBytes}`);
    mkdirSync(this.dir, { recursive: true });
    this.lock();
    this.load();
  }

  /** Records waiting (not yet committed). */
  get records(): number {
    let n = 0;
    for (const s of this.segments) n += s.records;
    return n;
  }

  /** Bytes on disk or queued for it, the cursor's front segment counted whole. */
  get bytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.bytes;
    return n;
  }

  /** Queues one record; drops the oldest segment first when the spool would pass maxBytes. */
  append(record: Uint8Array): void {
    if (this.closed) throw new Error("spool: closed");
    const size = HEADER + record.byteLength;
    let active = this.segments.at(-1);
    if (!active || (active.bytes > 0 && active.bytes + size > this.segmentBytes)) {
      active = { id: this.nextId++, path: "", bytes: 0, records: 0 };
      active.path = join(this.dir, segmentName(active.id));
      this.segments.push(active);
    }
    while (this.bytes + size > this.maxBytes && this.segments.length > 1) this.dropFront();
    const buf = Buffer.allocUnsafe(size);
    buf.writeUInt32BE(record.byteLength, 0);
    buf.set(record, HEADER);
    this.queue.push({ seg: active, buf });
    active.bytes += size;
    active.records++;
    if (this.overflowing && this.bytes < this.maxBytes / 2) this.overflowing = false;
    this.kick();
  }

  /** Up to `max` records after the cursor (from one segment), or undefined when empty. */
  async read(max: number): Promise<SpoolBatch | undefined> {
    await this.drain();
    while (this.segments.length > 1 && this.segments[0]!.records === 0) {
      this.doom(this.segments.shift()!);
      this.offset = 0;
    }
    const front = this.segments[0];
    if (!front || front.records === 0) return undefined;
    const fd = openSync(front.path, "r");
    try {
      const records: Uint8Array[] = [];
      let pos = this.offset;
      while (records.length < max && pos < front.bytes) {
        const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, front.bytes - pos));
        const got = readSync(fd, chunk, 0, chunk.length, pos);
        let at = 0;
        while (records.length < max && at + HEADER <= got) {
          const len = chunk.readUInt32BE(at);
          if (at + HEADER + len > got) {
            if (at > 0) break; // next chunk starts at this record
            const one = Buffer.allocUnsafe(len);
            if (readSync(fd, one, 0, len, pos + HEADER) < len) throw new Error(`spool: segment ${front.path} ends inside a record`);
            records.push(one);
            at = HEADER + len;
            break;
          }
          records.push(chunk.subarray(at + HEADER, at + HEADER + len));
          at += HEADER + len;
        }
        if (at === 0) break;
        pos += at;
      }
      return { records, end: { segment: front.id, offset: pos } };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Moves the cursor past a batch the broker acknowledged, removes segments read to the end and
   * saves the cursor. A batch whose segment was dropped meanwhile (spool full) is ignored.
   */
  commit(batch: SpoolBatch): void {
    const front = this.segments[0];
    if (!front || front.id !== batch.end.segment || batch.end.offset < this.offset) return;
    front.records = Math.max(0, front.records - batch.records.length);
    this.offset = batch.end.offset;
    if (this.offset >= front.bytes) {
      this.segments.shift();
      this.offset = 0;
      this.doom(front);
    }
    const next = this.segments[0];
    const text = next ? `${next.id} ${this.offset}\n` : "";
    this.cursorWrite = this.cursorWrite.then(() => this.saveCursor(text));
  }

  /** Writes everything queued, syncs it, saves the cursor and releases the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drain();
    for (const fh of this.handles.values()) {
      await fh.sync().catch(() => {});
      await fh.close().catch(() => {});
    }
    this.handles.clear();
    await this.cursorWrite;
    rmSync(join(this.dir, LOCK), { force: true });
  }

  /** Resolves once the writer has nothing queued. */
  private async drain(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private dropFront(): void {
    const front = this.segments.shift()!;
    this.droppedCount += front.records;
    this.offset = 0;
    this.doom(front);
    if (!this.overflowing) {
      this.overflowing = true;
      this.log.warn(
        { dir: this.dir, maxBytes: this.maxBytes, dropped: front.records },
        `event spool full; dropping the oldest events (raise ${this.setting} to keep more)`,
      );
    }
  }

  /** Removes a segment's file once the writer is done with it. */
  private doom(seg: Segment): void {
    this.doomed.push(seg);
    this.kick();
  }

  private kick(): void {
    if (this.writing) return;
    this.writing = this.write().finally(() => {
      this.writing = undefined;
      if (this.queue.length > 0 || this.doomed.length > 0) this.kick();
    });
  }

  private async write(): Promise<void> {
    while (this.queue.length > 0) {
      const items = this.queue;
      this.queue = [];
      for (let i = 0; i < items.length; ) {
        const seg = items[i]!.seg;
        let j = i;
        while (j < items.length && items[j]!.seg === seg) j++;
        const group = items.slice(i, j).map((x) => x.buf);
        i = j;
        if (this.doomed.includes(seg) || !this.segments.includes(seg)) continue;
        try {
          let fh = this.handles.get(seg.id);
          if (!fh) {
            fh = await open(seg.path, "a");
            this.handles.set(seg.id, fh);
          }
          await fh.write(Buffer.concat(group));
        } catch (err) {
          // Keep the counts true: these records are not on disk. Later appends go to a new segment.
          const bytes = group.reduce((n, b) => n + b.byteLength, 0);
          seg.bytes -= bytes;
          seg.records -= group.length;
          this.droppedCount += group.length;
          this.segments.push({ id: this.nextId, path: join(this.dir, segmentName(this.nextId++)), bytes: 0, records: 0 });
          this.log.error({ dir: this.dir, lost: group.length, ...errorFields(err) }, "could not write to the event spool");
        }
      }
      // Close handles of segments no longer appended to.
      const active = this.segments.at(-1);
      for (const [id, fh] of this.handles) {
        if (id !== active?.id) {
          this.handles.delete(id);
          await fh.close().catch(() => {});
        }
      }
    }
    const doomed = this.doomed;
    this.doomed = [];
    for (const seg of doomed) {
      const fh = this.handles.get(seg.id);
      if (fh) {
        this.handles.delete(seg.id);
        await fh.close().catch(() => {});
      }
      await unlink(seg.path).catch(() => {});
    }
  }

  private async saveCursor(text: string): Promise<void> {
    const path = join(this.dir, CURSOR);
    try {
      await writeFile(`${path}.tmp`, text);
      await rename(`${path}.tmp`, path);
    } catch (err) {
      this.log.warn({ dir: this.dir, ...errorFields(err) }, "could not save the event spool cursor; a restart may resend some events");
    }
  }

  /** One process per spool directory: a second one would interleave writes and cursors. */
  private lock(): void {
    const path = join(this.dir, LOCK);
    let holder: number | undefined;
    try {
      holder = Number(readFileSync(path, "utf8").trim());
    } catch {
      /* no lock */
    }
    if (holder && holder !== process.pid) {
      let alive = true;
      try {
        process.kill(holder, 0);
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === "EPERM";
      }
      if (alive)
        throw new Error(
          `event spool ${this.dir} is in use by process ${holder}; give each process its own events.spool.dir`,
        );
    }
    writeFileSync(path, `${process.pid}\n`);
  }

  /** Reads the segments and the cursor left by a previous run, cutting off a torn tail. */
  private load(): void {
    const ids = readdirSync(this.dir)
      .map((f) => SEGMENT_RE.exec(f)?.[1])
      .filter((x): x is string => x !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    let cursor = { segment: 0, offset: 0 };
    try {
      const [s, o] = readFileSync(join(this.dir, CURSOR), "utf8").trim().split(" ").map(Number);
      if (Number.isInteger(s) && Number.isInteger(o)) cursor = { segment: s!, offset: o! };
    } catch {
      /* no cursor: start at the oldest segment */
    }
    for (const id of ids) {
      const path = join(this.dir, segmentName(id));
      this.nextId = Math.max(this.nextId, id + 1);
      if (id < cursor.segment) {
        rmSync(path, { force: true });
        continue;
      }
      const data = readFileSync(path);
      const from = id === cursor.segment && this.segments.length === 0 ? Math.min(cursor.offset, data.length) : 0;
      let at = 0;
      let records = 0;
      while (at + HEADER <= data.length) {
        const end = at + HEADER + data.readUInt32BE(at);
        if (end > data.length) break;
        if (at >= from) records++;
        at = end;
      }
      if (at < data.length) {
        this.log.warn({ path, cut: data.length - at }, "event spool segment ends in a torn record; cutting it off");
        const fd = openSync(path, "r+");
        ftruncateSync(fd, at);
        closeSync(fd);
      }
      if (this.segments.length === 0) this.offset = from;
      this.segments.push({ id, path, bytes: statSync(path).size, records });
    }
    // Segments read to the end before the last run stopped.
    while (this.segments[0] && this.segments[0].records === 0) {
      rmSync(this.segments.shift()!.path, { force: true });
      this.offset = 0;
    }
    if (this.records > 0) this.log.info({ dir: this.dir, events: this.records, bytes: this.bytes }, "event spool holds events from a previous run; sending them");
  }
}
