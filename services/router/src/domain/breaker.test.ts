import { createMemoryBreakerStore } from "./breaker.js";
import { breakerStoreContract } from "./breaker-contract.js";

breakerStoreContract("memory", async () => {
  const store = createMemoryBreakerStore();
  return [store, store];
});
