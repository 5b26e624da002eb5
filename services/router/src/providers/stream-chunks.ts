import { create } from "@bufbuild/protobuf";
import { ChatChunkSchema, Role, type ChatChunk, type Usage } from "@tessera/gen/tessera/chat/v1/chat_pb";

/** A streamed delta as the stream translators build it. */
export type DeltaInit = { role?: Role; content?: string; toolCalls?: { index: number; id?: string; type?: string; name?: string; arguments?: string }[] };

/** What every chunk of one stream carries. */
export interface ChunkHead {
  id: string;
  created: bigint;
  model: string;
}

/**
 * The unified chunks a stream translator emits, in the shapes OpenAI streams them: one choice at
 * index 0 per delta, the assistant role once before anything else, and a last chunk with no
 * choices that carries usage. `head` is read at each chunk, as a translator may learn its id
 * and model from the stream.
 */
export class StreamChunks {
  private started = false;

  constructor(private readonly head: () => ChunkHead) {}

  /** A chunk with one delta (and the finish reason, if this is the last delta). */
  chunk(delta: DeltaInit, finishReason = ""): ChatChunk {
    const { id, created, model } = this.head();
    return create(ChatChunkSchema, { id, created, model, choices: [{ index: 0, finishReason, delta }] });
  }

  /** The role chunk the first time it is asked for, nothing after. */
  role(): ChatChunk[] {
    if (this.started) return [];
    this.started = true;
    return [this.chunk({ role: Role.ASSISTANT, content: "" })];
  }

  /** The last chunk: no choices, the stream's usage. */
  usage(usage: Usage | undefined): ChatChunk {
    const { id, created, model } = this.head();
    return create(ChatChunkSchema, { id, created, model, choices: [], usage });
  }
}
