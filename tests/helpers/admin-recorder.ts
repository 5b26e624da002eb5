import { create, toJson, type DescService, type Message } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { SOURCE_IP_HEADER } from "@tessera/runtime";

/** One call the recording service saw. */
export interface SeenCall {
  /** The method's local name, e.g. "createKey". */
  rpc: string;
  /** The request as proto JSON with snake_case names, implicit fields left out. */
  req: Record<string, unknown>;
  authorization: string | null;
  /** The source-address header the caller forwarded, if any. */
  sourceIp: string | null;
}

/**
 * An implementation of an admin service (default AdminService) for tests of its clients (the
 * CLI, the REST gateway): every method records the call in `seen` (oldest first), then answers
 * from `answers` — the response or error set for its RPC, else its empty response. Clear
 * `seen` before each call under test.
 */
export function recordAdminCalls<S extends DescService = typeof AdminService>(service: S = AdminService as unknown as S) {
  const seen: SeenCall[] = [];
  const answers = new Map<string, Message | Error>();

  const methods: Record<string, (req: Message, ctx: HandlerContext) => Promise<Message>> = {};
  for (const m of service.methods) {
    methods[m.localName] = async (req, ctx) => {
      seen.push({
        rpc: m.localName,
        req: toJson(m.input, req, { useProtoFieldName: true }) as Record<string, unknown>,
        authorization: ctx.requestHeader.get("authorization"),
        sourceIp: ctx.requestHeader.get(SOURCE_IP_HEADER),
      });
      const a = answers.get(m.localName);
      if (a instanceof Error) throw a;
      return a ?? create(m.output);
    };
  }

  return {
    /** The implementation to bind: `bind(service, impl)`. */
    impl: methods as unknown as ServiceImpl<S>,
    seen,
    /** Per-RPC answers or failures, keyed by local name; an RPC without one answers its empty response. */
    answers,
    /** The first call recorded (a function, so assertions do not narrow it). */
    last: (): SeenCall => seen[0]!,
    /** Runs `fn` with `answer` set for `rpc`, then takes it away. */
    async answering<T>(rpc: string, answer: Message | Error, fn: () => Promise<T>): Promise<T> {
      answers.set(rpc, answer);
      try {
        return await fn();
      } finally {
        answers.delete(rpc);
      }
    },
  };
}
