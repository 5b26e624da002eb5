/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Parse a server-sent-events byte stream incrementally (the WHATWG event-stream format:
 * `field: value` lines, events ended by a blank line, `data` lines joined by "\n", comments
 * starting with ":"). Handles CRLF, LF and CR line ends and lines split across chunks.
 */
export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buf = "";
  let event = "";
  let data: string[] = [];
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      const nl = buf.slice(start).search(/\r\n|\r|\n/);
      if (nl < 0) break;
      const end = start + nl;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (buf[end] === "\r" && end + 1 === buf.length) break;
      const line = buf.slice(start, end);
      start = end + (buf[end] === "\r" && buf[end + 1] === "\n" ? 2 : 1);
      if (line === "") {
        if (data.length > 0) yield { event: event || "message", data: data.join("\n") };
        event = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") data.push(value);
      else if (field === "event") event = value;
    }
    buf = buf.slice(start);
  }
  buf += decoder.decode();
  if (buf !== "" && !buf.startsWith(":")) {
    const colon = buf.indexOf(":");
    if (colon >= 0 && buf.slice(0, colon) === "data") data.push(buf.slice(colon + 1).replace(/^ /, ""));
  }
  if (data.length > 0) yield { event: event || "message", data: data.join("\n") };
}
