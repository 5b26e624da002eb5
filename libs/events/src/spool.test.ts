import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { PortLogger as Logger } from "@tessera/runtime";
import { openSpool, type Spool } from "./spool.js";

function captureLog() {
  const lines: { level: string; msg: string | undefined; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: object, msg?: string) => void lines.push({ level, msg, fields: fields as Record<string, unknown> });
  const log: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  return { log, lines };
}

const record = (i: number, size = 10) => new Uint8Array(size).fill(i % 256);
const text = (r: Uint8Array) => `${r[0]}:${r.byteLength}`;

/** Reads and commits everything, returning the records as "first byte:length". */
async function drainAll(spool: Spool, max = 7): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const b = await spool.read(max);
    if (!b) return out;
    out.push(...b.records.map(text));
    spool.commit(b);
  }
}

describe("event spool", () => {
  const dirs: string[] = [];
  const fresh = () => {
    const d = mkdtempSync(join(tmpdir(), "tessera-spool-"));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it("gives back appended records in order across segments and removes segments once read", async () => {
    const dir = fresh();
    const spool = openSpool({ dir, maxBytes: 10_000, segmentBytes: 100, log: captureLog().log });
    for (let i = 0; i < 30; i++) spool.append(record(i));
    assert.equal(spool.records, 30);
    assert.equal(spool.bytes, 30 * 14, "4-byte length prefix per record");
    const got = await drainAll(spool);
    assert.deepEqual(got, Array.from({ length: 30 }, (_, i) => `${i}:10`));
    assert.equal(spool.records, 0);
    await spool.close();
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith(".seg")), [], "read segments are deleted");
  });

  it("a reopened spool resumes after the last commit and cuts off a torn record", async () => {
    const dir = fresh();
    const first = openSpool({ dir, maxBytes: 10_000, segmentBytes: 100, log: captureLog().log });
    for (let i = 0; i < 20; i++) first.append(record(i));
    const b = await first.read(5);
    first.commit(b!);
    const uncommitted = await first.read(5); // read but never acknowledged: must come back
    assert.ok(uncommitted!.records.length > 0);
    await first.close();
    // A crash mid-write leaves half a record at the end of the newest segment.
    const newest = readdirSync(dir).filter((f) => f.endsWith(".seg")).sort().at(-1)!;
    appendFileSync(join(dir, newest), Buffer.from([0, 0, 0, 50, 1, 2, 3]));

    const { log, lines } = captureLog();
    const again = openSpool({ dir, maxBytes: 10_000, segmentBytes: 100, log });
    assert.equal(again.records, 15);
    assert.ok(lines.some((l) => l.msg?.includes("torn record")));
    assert.deepEqual(await drainAll(again), Array.from({ length: 15 }, (_, i) => `${i + 5}:10`));
    again.append(record(99));
    assert.deepEqual(await drainAll(again), ["99:10"], "appends after the cut read back whole");
    await again.close();
  });

  it("when full, drops the oldest segment, counts its records and names the setting to raise", async () => {
    const dir = fresh();
    const { log, lines } = captureLog();
    const spool = openSpool({ dir, maxBytes: 140, segmentBytes: 42, maxBytesSetting: "events.spool.max_bytes", log });
    for (let i = 0; i < 25; i++) spool.append(record(i));
    assert.ok(spool.bytes <= 140, `bytes ${spool.bytes} within the bound`);
    assert.equal(spool.records + spool.droppedCount, 25, "every record is either kept or counted as dropped");
    assert.ok(spool.droppedCount > 0);
    const warn = lines.filter((l) => l.level === "warn" && l.msg?.includes("raise events.spool.max_bytes"));
    assert.equal(warn.length, 1, "one warning per overflow, not one per segment");
    const kept = await drainAll(spool);
    assert.deepEqual(kept, Array.from({ length: kept.length }, (_, i) => `${25 - kept.length + i}:10`), "the newest are kept, in order");
    await spool.close();
  });

  it("refuses a directory another live process holds, and bad sizes", () => {
    const dir = fresh();
    const log = captureLog().log;
    // Another live process (the parent of this one) holds the directory.
    writeFileSync(join(dir, "lock"), `${process.ppid}\n`);
    assert.throws(() => openSpool({ dir, maxBytes: 1_000, log }), /in use by process \d+; give each process its own events\.spool\.dir/);
    // A lock left by a process that is gone is taken over.
    writeFileSync(join(dir, "lock"), "999999999\n");
    const spool = openSpool({ dir, maxBytes: 1_000, log });
    assert.equal(readFileSync(join(dir, "lock"), "utf8").trim(), String(process.pid));
    assert.throws(() => openSpool({ dir: fresh(), maxBytes: 0, log }), /must be positive/);
    return spool.close();
  });
});
