import type { ChatChunk, ChatResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { ResponseRedactor, StreamCursor } from "@tessera/guardrails";

/** The answer side of redaction on a whole response: contents and tool-call arguments. */
export function redactAnswer(r: ResponseRedactor, res: ChatResponse): void {
  for (const c of res.choices) {
    const m = c.message;
    if (!m) continue;
    m.content = r.text(m.content);
    for (const p of m.parts) if (p.part.case === "text") p.part.value = r.text(p.part.value);
    for (const tc of m.toolCalls) if (tc.function) tc.function.arguments = r.text(tc.function.arguments);
  }
}

/**
 * The answer side of redaction on a stream: one cursor per choice's content and per tool
 * call's arguments, holding back only what may still become an entity or a placeholder, and
 * flushing a choice's cursors into the chunk that finishes it. Chunks are changed in place; a
 * chunk whose text changed loses its raw passthrough bytes (the rest still pass through).
 */
export function createStreamAnswer(r: ResponseRedactor) {
  const cursors = new Map<string, StreamCursor>();
  const cursor = (key: string) => {
    let c = cursors.get(key);
    if (!c) cursors.set(key, (c = r.stream()));
    return c;
  };
  return {
    chunk(c: ChatChunk): void {
      let changed = false;
      for (const ch of c.choices) {
        const d = ch.delta;
        if (d) {
          if (d.content) {
            const out = cursor(`${ch.index}`).push(d.content);
            changed ||= out !== d.content;
            d.content = out;
          }
          if (d.toolCalls.length > 0) {
            // Text still held back goes out before the first tool call does.
            const text = cursors.get(`${ch.index}`);
            if (text) {
              cursors.delete(`${ch.index}`);
              const rest = text.end();
              if (rest) {
                d.content += rest;
                changed = true;
              }
            }
            const calls: typeof d.toolCalls = [];
            for (const tc of d.toolCalls) {
              // A new call starts: what earlier calls still hold goes first, so no two calls'
              // arguments ever interleave (Anthropic's stream format cannot carry that).
              for (const [key, cur] of cursors) {
                const [i, t] = key.split(":");
                if (t === undefined || Number(i) !== ch.index || Number(t) >= tc.index) continue;
                const rest = cur.end();
                cursors.delete(key);
                if (rest) {
                  calls.push({ $typeName: "tessera.chat.v1.ToolCallDelta", index: Number(t), id: "", type: "", name: "", arguments: rest });
                  changed = true;
                }
              }
              if (tc.arguments) {
                const out = cursor(`${ch.index}:${tc.index}`).push(tc.arguments);
                changed ||= out !== tc.arguments;
                tc.arguments = out;
              }
              calls.push(tc);
            }
            d.toolCalls = calls;
          }
        }
        if (ch.finishReason) changed = this.flushChoice(c, ch.index) || changed;
      }
      // A chunk whose text is no longer the provider's cannot be passed through as it came.
      if (changed) c.rawOpenai = "";
    },
    /** Put what a choice's cursors still hold into chunk `c`. */
    flushChoice(c: ChatChunk, index: number): boolean {
      const ch = c.choices.find((x) => x.index === index);
      if (!ch) return false;
      let changed = false;
      for (const [key, cur] of cursors) {
        const [i, tool] = key.split(":");
        if (Number(i) !== index) continue;
        const rest = cur.end();
        cursors.delete(key);
        if (!rest) continue;
        changed = true;
        ch.delta ??= { $typeName: "tessera.chat.v1.Delta", role: 0, content: "", toolCalls: [], refusal: "" };
        if (tool === undefined) ch.delta.content += rest;
        else {
          const t = ch.delta.toolCalls.find((x) => x.index === Number(tool));
          if (t) t.arguments += rest;
          else ch.delta.toolCalls.push({ $typeName: "tessera.chat.v1.ToolCallDelta", index: Number(tool), id: "", type: "", name: "", arguments: rest });
        }
      }
      return changed;
    },
    /** Choice indexes with text still held (a stream that ended without finishing them). */
    openChoices(): number[] {
      return [...new Set([...cursors.keys()].map((k) => Number(k.split(":")[0])))];
    },
    /** Characters held back so far (the delay the hold-back buffer adds, in text). */
    get held(): number {
      let n = 0;
      for (const c of cursors.values()) n += c.heldChars;
      return n;
    },
  };
}
