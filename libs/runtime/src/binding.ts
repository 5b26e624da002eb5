import { create, type DescMethod, type DescService } from "@bufbuild/protobuf";
import {
  createContextValues,
  type CallOptions,
  type Client,
  type ConnectRouter,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";

/** A generated service and the object implementing it. */
export interface ServiceBinding<S extends DescService = DescService> {
  service: S;
  impl: ServiceImpl<S>;
}

/** Pair a service with its implementation, type-checked. */
export function bind<S extends DescService>(service: S, impl: ServiceImpl<S>): ServiceBinding<S> {
  return { service, impl };
}

/** Connect routes serving every binding (mesh, and the public port). */
export function routesOf(bindings: readonly ServiceBinding[]): (router: ConnectRouter) => void {
  return (router) => {
    for (const b of bindings) router.service(b.service, b.impl);
  };
}

const NEVER = new AbortController().signal;

/**
 * A handler context for a direct call: the caller's signal and headers, the rest fixed.
 * Headers are made only when a handler reads them.
 */
function directContext(service: DescService, method: DescMethod, opts: CallOptions | undefined): HandlerContext {
  let requestHeader: Headers | undefined;
  let responseHeader: Headers | undefined;
  let responseTrailer: Headers | undefined;
  let values: HandlerContext["values"] | undefined;
  return {
    service,
    method,
    signal: opts?.signal ?? NEVER,
    timeoutMs: () => opts?.timeoutMs,
    requestMethod: "POST",
    protocolName: "in-process",
    url: `/${service.typeName}/${method.name}`,
    get requestHeader() {
      return (requestHeader ??= new Headers(opts?.headers));
    },
    get responseHeader() {
      return (responseHeader ??= new Headers());
    },
    get responseTrailer() {
      return (responseTrailer ??= new Headers());
    },
    get values() {
      return (values ??= opts?.contextValues ?? createContextValues());
    },
  };
}

/**
 * A typed client that calls the implementation in this process directly (all-in-one): the
 * same `Client<S>` interface as a network client, without serialisation, envelopes or
 * transports. The benchmark showed Connect's in-memory router transport cost several times
 * the all-in-one latency budget, which is what DESIGN.md §2 allows this for.
 *
 * Messages are passed by reference: a handler must not keep or share a request it mutates.
 * Errors reach the caller as thrown (TesseraErrors stay TesseraErrors).
 */
export function createDirectClient<S extends DescService>(binding: ServiceBinding<S>): Client<S> {
  const { service, impl } = binding;
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    const fn = (impl as Record<string, ((req: unknown, ctx: HandlerContext) => unknown) | undefined>)[method.localName];
    if (!fn) continue;
    switch (method.methodKind) {
      case "unary":
        client[method.localName] = async (input: object, opts?: CallOptions) =>
          create(method.output, (await fn.call(impl, create(method.input, input as never), directContext(service, method, opts))) as never);
        break;
      case "server_streaming":
        client[method.localName] = (input: object, opts?: CallOptions) => {
          const it = fn.call(impl, create(method.input, input as never), directContext(service, method, opts)) as AsyncIterable<object>;
          return (async function* () {
            for await (const m of it) yield create(method.output, m as never);
          })();
        };
        break;
      default:
        throw new Error(`createDirectClient: ${service.typeName}.${method.name} is ${method.methodKind}, which direct calls do not support yet`);
    }
  }
  return client as Client<S>;
}
