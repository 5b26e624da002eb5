import type { JsonObject } from "@bufbuild/protobuf";
import { createTtlCache } from "@tessera/runtime";
import { compileVersion, noPrompt, noVersion, renderVersion, wantedVersion, type CompiledVersion, type Registry, type Rendered } from "./registry.js";
import type { SplitEntry } from "./split.js";
import type { PromptStore } from "./store.js";

/** Options of {@link createPromptRenderer}. */
export interface RendererOptions {
  /** Prompts from the configuration file: looked up first, never from the store. */
  config: Registry;
  store: PromptStore;
  /** How long a prompt's labels are reused before the store is asked again (≤ 1000 ms): a label moved on another replica is served within this. */
  labelCacheMs: number;
  /** Compiled versions kept at most (they never change, so they stay until this bound clears them). */
  maxCompiled?: number;
}

/**
 * Render configured and stored prompts. The hot path asks the store nothing per call: a
 * prompt's labels are cached for `labelCacheMs` (unknown prompts too, so a caller cannot make
 * every call a query) and dropped at once by `changed` on the replica that made the change;
 * compiled versions are cached until the bound, since a version never changes (a version
 * not found is not cached).
 */
export function createPromptRenderer(o: RendererOptions) {
  const labels = createTtlCache<ReadonlyMap<string, SplitEntry[]> | undefined>(o.labelCacheMs);
  const compiled = createTtlCache<CompiledVersion>(Number.POSITIVE_INFINITY, o.maxCompiled ?? 10_000);
  const key = (tenant: string, name: string) => `${tenant}\u0000${name}`;

  const labelsOf = (tenant: string, name: string) =>
    labels.get(key(tenant, name), async () => {
      const [p, ls] = await Promise.all([o.store.getPrompt(tenant, name), o.store.listLabels(tenant, name)]);
      return p ? new Map(ls.map((l) => [l.label, l.targets])) : undefined;
    });

  const versionOf = (tenant: string, name: string, n: number) =>
    compiled.get(`${key(tenant, name)}\u0000${n}`, async () => {
      const v = await o.store.getVersion(tenant, name, n);
      // A miss is an error, and errors are not cached: the version may be published later.
      if (!v) throw noVersion(name, n);
      return compileVersion({ version: v.version, ...v.spec }, `prompt '${name}' version ${n}`);
    });

  return {
    async render(tenant: string, name: string, label: string, version: number, vars: JsonObject, stickyKey: string): Promise<Rendered> {
      if (o.config.has(tenant, name)) return o.config.render(tenant, name, label, version, vars, stickyKey);
      const ls = await labelsOf(tenant, name);
      if (!ls) throw noPrompt(name);
      const want = wantedVersion(name, label, version, ls, stickyKey);
      return renderVersion(name, await versionOf(tenant, name, want), vars);
    },
    /** A stored prompt changed on this replica: serve its new labels from the next call. */
    changed(tenant: string, name: string): void {
      labels.delete(key(tenant, name));
    },
  };
}

export type PromptRenderer = ReturnType<typeof createPromptRenderer>;
