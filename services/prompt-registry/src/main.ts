import { runService } from "@tessera/runtime";
import { build } from "./server.js";

await runService("prompt_registry", (cfg, log) => build(cfg, log));
