import { createMemoryLimiter } from "./limiter-memory.js";
import { limiterContract } from "./limiter-contract.js";

/** One instance, handed out for every "replica": in one process they share it. */
const shared = createMemoryLimiter();
limiterContract("memory", async () => shared);
