import { runService } from "@tessera/runtime";
import { build } from "./server.js";

await runService("router", build);
