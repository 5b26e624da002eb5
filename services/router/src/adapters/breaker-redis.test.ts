import assert from "node:assert/strict";
import { it } from "node:test";
import { createRedisBreakerStore } from "./breaker-redis.js";
import { breakerStoreContract } from "../domain/breaker-contract.js";

const URL = process.env["TESSERA_TEST_REDIS_URL"];

if (!URL) {
  it("Redis breaker tests need Redis", () => {
    assert.fail('TESSERA_TEST_REDIS_URL is not set. Run `scripts/infra up redis` and `eval "$(scripts/infra env)"`, then run the tests again.');
  });
} else {
  const prefix = `test:${process.pid}:${Date.now()}:`;
  breakerStoreContract("redis", async () => [createRedisBreakerStore(URL, prefix), createRedisBreakerStore(URL, prefix)]);
}
