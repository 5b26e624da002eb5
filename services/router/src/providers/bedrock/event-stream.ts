import { EventStreamCodec, type MessageHeaders } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import type { SseEvent } from "@tessera/openai-format";
import { garbage } from "../http-adapter.js";

/** Content type of an AWS event stream body. */
export const EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream";

/** Prelude (total length, headers length, prelude CRC) plus the message CRC. */
const FRAME_OVERHEAD = 16;

/**
 * The largest frame accepted. No Converse event comes near it; a larger length prefix means
 * the bytes are not an event stream (an HTML error page read as a length is ~1 GB).
 */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** A frame length prefix that cannot be an event-stream message. */
export class FrameLengthError extends Error {
  override readonly name = "FrameLengthError";
}

/**
 * Cuts a byte stream into whole event-stream messages. Each message starts with its total
 * length (4 bytes, big-endian, counting itself), so bytes are buffered until a whole message
 * is there, whatever the chunk boundaries: a frame may arrive split over many chunks, and one
 * chunk may hold several frames.
 */
export class EventStreamFramer {
  private buf: Buffer = Buffer.alloc(0);

  /** Add bytes; returns the messages completed by them, in order. Throws FrameLengthError. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: Uint8Array[] = [];
    while (this.buf.length >= 4) {
      const total = this.buf.readUInt32BE(0);
      if (total < FRAME_OVERHEAD || total > MAX_FRAME_BYTES) throw new FrameLengthError(`event-stream frame length ${total} is out of range`);
      if (this.buf.length < total) break;
      out.push(this.buf.subarray(0, total));
      this.buf = this.buf.subarray(total);
    }
    return out;
  }

  /** Bytes of an incomplete message still buffered. */
  get buffered(): number {
    return this.buf.length;
  }
}

/** A decoded message's string header (undefined when absent or of another type). */
function stringHeader(headers: MessageHeaders, name: string): string | undefined {
  const h = headers[name];
  return h?.type === "string" ? h.value : undefined;
}

/**
 * One whole message → the event a StreamTranslator reads: an event message gives its
 * `:event-type` and JSON payload; an exception message gives its `:exception-type` (e.g.
 * throttlingException) and payload; an error message gives event "error" with a JSON
 * `{message}` from its `:error-code` and `:error-message` headers. Throws for a frame whose
 * CRCs or headers do not decode.
 */
export function decodeEventStreamMessage(frame: Uint8Array): SseEvent {
  const msg = codec.decode(frame);
  const body = toUtf8(msg.body);
  switch (stringHeader(msg.headers, ":message-type")) {
    case "event": {
      const type = stringHeader(msg.headers, ":event-type");
      if (!type) throw new Error("event message without :event-type");
      return { event: type, data: body };
    }
    case "exception": {
      const type = stringHeader(msg.headers, ":exception-type");
      if (!type) throw new Error("exception message without :exception-type");
      return { event: type, data: body };
    }
    case "error": {
      const code = stringHeader(msg.headers, ":error-code") ?? "UnknownError";
      return { event: "error", data: JSON.stringify({ message: `${code}: ${stringHeader(msg.headers, ":error-message") ?? ""}` }) };
    }
    default:
      throw new Error("message without a known :message-type");
  }
}

/**
 * A Bedrock streaming body (application/vnd.amazon.eventstream) → events for the shared HTTP
 * adapter. A frame whose length, CRCs or headers are wrong makes the provider's answer
 * garbage (a ProviderError); a body that ends inside a frame throws a plain Error, which the
 * adapter reports as a cut stream.
 */
export async function* converseStreamEvents(body: AsyncIterable<Uint8Array>, provider: string): AsyncGenerator<SseEvent> {
  const framer = new EventStreamFramer();
  for await (const chunk of body) {
    let frames: Uint8Array[];
    try {
      frames = framer.push(chunk);
    } catch (err) {
      throw garbage(provider, `sent a body that is not an event stream (${(err as Error).message})`, false);
    }
    for (const frame of frames) {
      let ev: SseEvent;
      try {
        ev = decodeEventStreamMessage(frame);
      } catch (err) {
        throw garbage(provider, `sent an event-stream frame that does not decode (${(err as Error).message})`, false);
      }
      yield ev;
    }
  }
  if (framer.buffered > 0) throw new Error(`the event stream ended inside a frame (${framer.buffered} bytes)`);
}

/** Encode one message with string headers (for fakes and tests). */
export function encodeEventStreamMessage(headers: Record<string, string>, payload: string | Uint8Array): Uint8Array {
  const h: MessageHeaders = {};
  for (const [k, v] of Object.entries(headers)) h[k] = { type: "string", value: v };
  return codec.encode({ headers: h, body: typeof payload === "string" ? fromUtf8(payload) : payload });
}

/** An event frame as Bedrock sends it: `:event-type`, JSON content type, the payload's JSON. */
export function encodeConverseEvent(eventType: string, payload: unknown): Uint8Array {
  return encodeEventStreamMessage({ ":event-type": eventType, ":content-type": "application/json", ":message-type": "event" }, JSON.stringify(payload));
}

/** An exception frame as Bedrock sends it (e.g. throttlingException with `{message}`). */
export function encodeConverseException(exceptionType: string, payload: unknown): Uint8Array {
  return encodeEventStreamMessage({ ":exception-type": exceptionType, ":content-type": "application/json", ":message-type": "exception" }, JSON.stringify(payload));
}
