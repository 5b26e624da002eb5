import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSse } from "./sse.js";

async function collect(chunks: string[]) {
  async function* gen() {
    for (const c of chunks) yield new TextEncoder().encode(c);
  }
  const out = [];
  for await (const e of parseSse(gen())) out.push(e);
  return out;
}

test("events split across chunks at every byte are reassembled", async () => {
  const text = 'data: {"a":1}\n\nevent: ping\ndata: x\ndata: y\n\n: comment\ndata: [DONE]\n\n';
  for (let cut = 1; cut < text.length; cut++) {
    const events = await collect([text.slice(0, cut), text.slice(cut)]);
    assert.deepEqual(events, [
      { event: "message", data: '{"a":1}' },
      { event: "ping", data: "x\ny" },
      { event: "message", data: "[DONE]" },
    ], `cut at ${cut}`);
  }
});

test("CRLF and CR line endings are accepted", async () => {
  assert.deepEqual(await collect(["data: a\r\n\r\ndata: b\r\r"]), [
    { event: "message", data: "a" },
    { event: "message", data: "b" },
  ]);
});

test("multi-byte UTF-8 split between chunks decodes intact", async () => {
  const bytes = new TextEncoder().encode("data: héllo 🌍\n\n");
  async function* gen() {
    for (const b of bytes) yield new Uint8Array([b]);
  }
  const out = [];
  for await (const e of parseSse(gen())) out.push(e.data);
  assert.deepEqual(out, ["héllo 🌍"]);
});
