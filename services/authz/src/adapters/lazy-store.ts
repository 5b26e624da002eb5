import type { AuthzStore } from "../domain/store.js";

/** What each read answers while the store has never been opened: nothing exists yet. */
const EMPTY: Partial<Record<keyof AuthzStore, () => unknown>> = {
  getTenant: () => undefined,
  listTenants: () => [],
  getTeam: () => undefined,
  listTeams: () => [],
  getUser: () => undefined,
  listUsers: () => [],
  getKey: () => undefined,
  getKeyByHash: () => undefined,
  listKeys: () => [],
  listLimits: () => [],
  limitsFor: () => [],
  listBudgets: () => [],
  budgetsFor: () => [],
  listSubscriptions: () => [],
  isSubscribed: () => false,
  listAudit: () => [],
};

/**
 * A store that opens on its first write. For an embedded database whose files do not exist
 * yet: until something is written there is nothing to read, so reads answer empty without
 * paying for the engine (PGlite holds ~300 MB once started). The first write opens it (and
 * runs its migrations); from then on every call goes to it.
 */
export function createLazyStore(open: () => Promise<AuthzStore>): AuthzStore & { readonly opened: boolean } {
  let real: AuthzStore | undefined;
  let opening: Promise<AuthzStore> | undefined;
  const ensure = () =>
    (opening ??= open().then(
      (s) => (real = s),
      (err: unknown) => {
        opening = undefined;
        throw err;
      },
    ));
  return new Proxy({} as AuthzStore & { readonly opened: boolean }, {
    get(_t, prop: string) {
      if (prop === "opened") return real !== undefined;
      if (prop === "close") return async () => (opening ? (await opening.catch(() => undefined))?.close() : undefined);
      if (prop === "then") return undefined;
      const empty = EMPTY[prop as keyof AuthzStore];
      return async (...args: unknown[]) => {
        if (!real && !opening && empty) return empty();
        const s = real ?? (await ensure());
        return (s[prop as keyof AuthzStore] as (...a: unknown[]) => unknown).apply(s, args);
      };
    },
  });
}
