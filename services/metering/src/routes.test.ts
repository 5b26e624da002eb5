import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { RequestEventSchema } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { MeteringService } from "@tessera/gen/tessera/metering/v1/metering_pb";
import { createMemoryEventBus } from "@tessera/events";
import { createEmbeddedUsageStore } from "@tessera/usage-store";
import { createErrorInterceptor, routesOf } from "@tessera/runtime";
import { memoryLogger } from "../../../tests/helpers/log.js";
import { createMetering } from "./server.js";

test("events published on the bus are stored and answered per tenant by GetUsage", async () => {
  const { log } = memoryLogger("metering");
  const bus = createMemoryEventBus({ log });
  const metering = createMetering({ consumer: bus, store: createEmbeddedUsageStore(), log });
  await metering.start!();
  const t = Date.now();
  const ev = (id: string, tenant: string, model: string, status = 200) =>
    create(RequestEventSchema, { requestId: id, tenantId: tenant, modelRequested: model, modelServed: model, timeUnixMs: BigInt(t), statusCode: status, promptTokens: 10, completionTokens: 5 });
  bus.publish(ev("r1", "acme", "m1"));
  bus.publish(ev("r2", "acme", "m1", 502));
  bus.publish(ev("r2", "acme", "m1", 502)); // redelivered duplicate
  bus.publish(ev("r3", "acme", "m2"));
  bus.publish(ev("r4", "beta", "m1"));
  await bus.flush();

  const client = createClient(MeteringService, createRouterTransport(routesOf(metering.bindings), { router: { interceptors: [createErrorInterceptor(log)] } }));
  const res = await client.getUsage({ tenantId: "acme", startUnixMs: BigInt(t - 1000), endUnixMs: BigInt(t + 1000) });
  const byModel = Object.fromEntries(res.models.map((m) => [m.model, m]));
  assert.equal(byModel["m1"]!.requests, 2n);
  assert.equal(byModel["m1"]!.errors, 1n);
  assert.equal(byModel["m1"]!.promptTokens, 20n);
  assert.equal(byModel["m2"]!.requests, 1n);
  assert.equal(res.models.length, 2, "beta's rows are not acme's");

  const empty = await client.getUsage({ tenantId: "acme", startUnixMs: BigInt(t + 5000), endUnixMs: BigInt(t + 6000) });
  assert.equal(empty.models.length, 0);
  await assert.rejects(client.getUsage({ tenantId: "" }), (e: unknown) => ConnectError.from(e).code === Code.InvalidArgument);
  await metering.stop();
});
