import assert from "node:assert/strict";
import { it } from "node:test";
import { createRedisLimiter } from "./limiter-redis.js";
import { limiterContract } from "../domain/limiter-contract.js";

const URL = process.env["TESSERA_TEST_REDIS_URL"];

if (!URL) {
  it("Redis limiter tests need Redis", () => {
    assert.fail('TESSERA_TEST_REDIS_URL is not set. Run `scripts/infra up redis` and `eval "$(scripts/infra env)"`, then run the tests again.');
  });
} else {
  const prefix = `test:${process.pid}:${Date.now()}:`;
  limiterContract("redis", async () => createRedisLimiter({ url: URL, prefix }));
}
