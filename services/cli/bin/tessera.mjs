#!/usr/bin/env node
// The `tessera` command: runs src/main.ts through tsx's loader (the repository's dev dependency).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
await main();
