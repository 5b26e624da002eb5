import { runService } from "@tessera/runtime";
import { build } from "./server.js";

await runService("authz", (cfg, log) => build(cfg, log));
