import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import type { SseEvent } from "@tessera/openai-format";
import { ProviderError } from "../errors.js";
import {
  EventStreamFramer,
  FrameLengthError,
  converseStreamEvents,
  decodeEventStreamMessage,
  encodeConverseEvent,
  encodeConverseException,
  encodeEventStreamMessage,
} from "./event-stream.js";

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")) as { eventType: string; payload: unknown; messageType?: string }[];

// ---------------------------------------------------------------------------------------------
// An encoder written here from the documented layout, independent of the library:
//   [total length u32 BE][headers length u32 BE][prelude CRC32 u32 BE]
//   [headers: name length u8, name, value type u8 (7 = string), value length u16 BE, value]*
//   [payload][message CRC32 u32 BE over everything before it]
// CRC32 is the IEEE / gzip one (reflected polynomial 0xEDB88320).
// ---------------------------------------------------------------------------------------------

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function handEncode(headers: [string, string][], payload: string): Buffer {
  const hs = Buffer.concat(
    headers.map(([name, value]) => {
      const n = Buffer.from(name, "utf8");
      const v = Buffer.from(value, "utf8");
      const len = Buffer.alloc(2);
      len.writeUInt16BE(v.length);
      return Buffer.concat([Buffer.from([n.length]), n, Buffer.from([7]), len, v]);
    }),
  );
  const body = Buffer.from(payload, "utf8");
  const prelude = Buffer.concat([u32(16 + hs.length + body.length), u32(hs.length)]);
  const upToPayload = Buffer.concat([prelude, u32(crc32(prelude)), hs, body]);
  return Buffer.concat([upToPayload, u32(crc32(upToPayload))]);
}

function frameOf(e: { eventType: string; payload: unknown; messageType?: string }): Uint8Array {
  return e.messageType === "exception" ? encodeConverseException(e.eventType, e.payload) : encodeConverseEvent(e.eventType, e.payload);
}

async function collect(chunks: Uint8Array[]): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  for await (const ev of converseStreamEvents(Readable.from(chunks.map((c) => Buffer.from(c))), "bedrock-test")) out.push(ev);
  return out;
}

test("the hand-written CRC32 gives the published check value and a published frame's prelude CRC", () => {
  // The CRC-32/ISO-HDLC check value (CRC of the ASCII digits 1..9).
  assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
  // A 30-byte frame with no headers: prelude 00 00 00 1e 00 00 00 00 → CRC ba f2 f6 8a.
  assert.equal(crc32(Buffer.from([0, 0, 0, 30, 0, 0, 0, 0])), 0xbaf2f68a);
});

test("a frame encoded by hand from the documented layout decodes to its event type and payload", () => {
  const frame = handEncode(
    [
      [":event-type", "contentBlockDelta"],
      [":content-type", "application/json"],
      [":message-type", "event"],
    ],
    '{"contentBlockIndex":0,"delta":{"text":"Hello"}}',
  );
  assert.equal(frame.readUInt32BE(0), frame.length, "total length counts the whole frame");
  assert.deepEqual(decodeEventStreamMessage(frame), { event: "contentBlockDelta", data: '{"contentBlockIndex":0,"delta":{"text":"Hello"}}' });
});

test("the library encoder writes byte for byte what the hand encoder writes", () => {
  const headers: [string, string][] = [
    [":event-type", "messageStop"],
    [":content-type", "application/json"],
    [":message-type", "event"],
  ];
  const lib = Buffer.from(encodeEventStreamMessage(Object.fromEntries(headers), '{"stopReason":"end_turn"}'));
  assert.equal(lib.toString("hex"), handEncode(headers, '{"stopReason":"end_turn"}').toString("hex"));
});

test("an exception frame gives its :exception-type as the event, an error frame gives 'error'", () => {
  const exc = handEncode(
    [
      [":exception-type", "throttlingException"],
      [":content-type", "application/json"],
      [":message-type", "exception"],
    ],
    '{"message":"slow down"}',
  );
  assert.deepEqual(decodeEventStreamMessage(exc), { event: "throttlingException", data: '{"message":"slow down"}' });
  const err = handEncode(
    [
      [":error-code", "InternalFailure"],
      [":error-message", "boom"],
      [":message-type", "error"],
    ],
    "",
  );
  assert.deepEqual(decodeEventStreamMessage(err), { event: "error", data: '{"message":"InternalFailure: boom"}' });
});

test("a frame with a flipped payload byte fails its CRC", () => {
  const frame = handEncode([[":message-type", "event"], [":event-type", "messageStart"]], '{"role":"assistant"}');
  frame[frame.length - 6]! ^= 0x01;
  assert.throws(() => decodeEventStreamMessage(frame), /checksum/);
});

const events = fixture("stream-tool-use.json");
const wire = Buffer.concat(events.map(frameOf));

test("the framer finds every frame whatever the split: at each byte boundary, byte by byte, all in one chunk", () => {
  const lengths = events.map((e) => frameOf(e).length);
  for (let k = 0; k <= wire.length; k++) {
    const f = new EventStreamFramer();
    const got = [...f.push(wire.subarray(0, k)), ...f.push(wire.subarray(k))];
    assert.deepEqual(
      got.map((g) => g.length),
      lengths,
      `split at ${k}`,
    );
    assert.equal(f.buffered, 0);
  }
  const f = new EventStreamFramer();
  const byByte: Uint8Array[] = [];
  for (let i = 0; i < wire.length; i++) byByte.push(...f.push(wire.subarray(i, i + 1)));
  assert.equal(byByte.length, events.length);
  assert.equal(new EventStreamFramer().push(wire).length, events.length, "several frames in one chunk");
});

test("the framer keeps an incomplete frame buffered and rejects an impossible length prefix", () => {
  const f = new EventStreamFramer();
  assert.deepEqual(f.push(wire.subarray(0, 10)), []);
  assert.equal(f.buffered, 10);
  assert.throws(() => new EventStreamFramer().push(Buffer.from("<html>502 Bad Gateway</html>")), FrameLengthError);
  assert.throws(() => new EventStreamFramer().push(Buffer.from([0, 0, 0, 3, 0, 0, 0, 0])), FrameLengthError);
});

test("a body split across chunks (at frame edges, inside preludes and payloads, byte by byte) decodes to the fixture's events, in order", async () => {
  const want = events.map((e) => ({ event: e.eventType, data: JSON.stringify(e.payload) }));
  for (const k of [1, 5, 11, 12, 13, 40, wire.length - 1]) assert.deepEqual(await collect([wire.subarray(0, k), wire.subarray(k)]), want, `split at ${k}`);
  const bytes: Uint8Array[] = [];
  for (let i = 0; i < wire.length; i++) bytes.push(wire.subarray(i, i + 1));
  assert.deepEqual(await collect(bytes), want);
});

test("an exception frame in the fixture arrives as its exception type", async () => {
  const got = await collect([Buffer.concat(fixture("stream-exception-throttling.json").map(frameOf))]);
  assert.deepEqual(
    got.map((e) => e.event),
    ["messageStart", "contentBlockDelta", "throttlingException"],
  );
  assert.deepEqual(JSON.parse(got[2]!.data), { message: "Your request was denied due to exceeding the account quotas for Amazon Bedrock." });
});

test("a body that is not an event stream, or a corrupt frame, is an upstream_garbage ProviderError", async () => {
  for (const body of [Buffer.from("<html>502 Bad Gateway</html>"), (() => {
    const b = Buffer.from(wire);
    b[20]! ^= 0xff;
    return b;
  })()]) {
    await assert.rejects(collect([body]), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.details.code, "upstream_garbage");
      assert.equal(err.retryable, false);
      return true;
    });
  }
});

test("a body that ends inside a frame throws a plain Error (the adapter reports a cut stream)", async () => {
  await assert.rejects(collect([wire.subarray(0, wire.length - 3)]), (err: unknown) => {
    assert.ok(!(err instanceof ProviderError));
    assert.match((err as Error).message, /ended inside a frame \(\d+ bytes\)/);
    return true;
  });
});
