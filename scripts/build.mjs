// Bundle each service entry (services/<name>/src/main.ts) into dist/<name>.mjs with esbuild:
// our workspace code is bundled, third-party packages stay external and load from
// node_modules. Production processes then run on plain `node`, without tsx's loader
// (about 46 MB and source-mapped stack traces per process, per the benchmark).
import { build } from "esbuild";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const repo = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8"));
const external = Object.keys(pkg.dependencies ?? {}).flatMap((d) => [d, `${d}/*`]);
const services = readdirSync(join(repo, "services")).filter((s) => existsSync(join(repo, "services", s, "src", "main.ts")));

const t0 = Date.now();
await build({
  absWorkingDir: repo,
  entryPoints: Object.fromEntries(services.map((s) => [s, `services/${s}/src/main.ts`])),
  outdir: "dist",
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external,
  sourcemap: "linked",
  logLevel: "warning",
  banner: { js: "// Built by scripts/build.mjs from services/*/src; do not edit." },
});
process.stderr.write(`[build] bundled ${services.length} services into dist/ in ${Date.now() - t0} ms\n`);
