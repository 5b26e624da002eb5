import type { Client } from "@connectrpc/connect";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { createMeshClient, meshUrl, type BuiltService, type Config, type Logger } from "@tessera/runtime";
import { createLazy, createSqlDatabases, type EmptyAnswers, type SqlDatabases } from "@tessera/sql";
import { createPromptAdmin } from "./domain/admin.js";
import { createRegistry } from "./domain/registry.js";
import { configPrompts, createApis } from "./domain/apis.js";
import { createPromptRenderer } from "./domain/renderer.js";
import type { PromptStore } from "./domain/store.js";
import { callersFromAuthz } from "./adapters/caller.js";
import { openMigratedPromptStore } from "./adapters/sql-store.js";
import { promptAdminService, promptRegistryService } from "./routes.js";

/** What each read answers while the store has never been opened: no prompts yet. */
const EMPTY: EmptyAnswers<PromptStore> = {
  getPrompt: () => undefined,
  listPrompts: () => [],
  getVersion: () => undefined,
  listVersions: () => [],
  listLabels: () => [],
  listHistory: () => [],
};

/**
 * Open the prompt store: `prompt_registry.store`, else authz's database (tables and a
 * migration ledger of their own). A PGlite directory that does not exist yet opens on the
 * first change, so a gateway without stored prompts never starts PGlite for them.
 */
export async function openPromptStore(cfg: Config, log: Logger, databases: SqlDatabases): Promise<PromptStore> {
  const own = cfg.prompt_registry.store;
  const s = own ?? cfg.authz.store;
  const open = async () => openMigratedPromptStore(await databases.open(s, own ? "prompt_registry.store" : "authz.store"), (line) => log.info(`prompt store: ${line}`));
  if (s.kind !== "pglite" || databases.exists(s)) return open();
  return createLazy(open, EMPTY);
}

/** What the all-in-one shares with prompt-registry; alone, it makes its own. */
export interface PromptRegistryShared {
  /** The process's SQL databases (authz's PGlite among them). */
  databases?: SqlDatabases;
  /** authz's admin API, which says who an admin caller is. */
  admin?: Client<typeof AdminService>;
}

/** Build prompt-registry from configuration. */
export async function build(cfg: Config, log: Logger, shared: PromptRegistryShared = {}): Promise<BuiltService> {
  const config = createRegistry(cfg.prompts);
  const databases = shared.databases ?? createSqlDatabases((line) => log.warn(line));
  const store = await openPromptStore(cfg, log, databases);
  const authz = shared.admin ?? createMeshClient(AdminService, meshUrl(cfg, "authz"));
  const cacheMs = cfg.prompt_registry.cache_ms;
  const renderer = createPromptRenderer({ config, store, labelCacheMs: cacheMs });
  const apis = createApis({ configured: cfg.prompt_apis, prompts: cfg.prompts, renderer, store, cacheMs });
  const admin = createPromptAdmin({
    store,
    models: new Set(cfg.models.map((m) => m.name)),
    inConfig: config.has,
    onChange: renderer.changed,
    configApis: cfg.prompt_apis,
    configPrompts: configPrompts(cfg.prompts),
    onApiChange: apis.changed,
  });
  return {
    bindings: [promptRegistryService({ renderer, apis }), promptAdminService({ admin, caller: callersFromAuthz(authz) })],
    stop: async () => {
      await store.close();
      if (!shared.databases) await databases.close();
      if (!shared.admin) (authz as { close?: () => void }).close?.();
    },
  };
}
