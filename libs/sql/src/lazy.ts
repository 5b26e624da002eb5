/** What each read of a store answers while it has never been opened (nothing exists yet). */
export type EmptyAnswers<T> = Partial<Record<keyof T, () => unknown>>;

/**
 * A store that opens on its first write. For an embedded database whose files do not exist
 * yet: until something is written there is nothing to read, so the reads named in `empty`
 * answer without paying for the engine (PGlite holds ~300 MB once started). Any other call
 * opens it (and runs its migrations); from then on every call goes to it.
 */
export function createLazy<T extends { close(): Promise<void> }>(open: () => Promise<T>, empty: EmptyAnswers<T>): T & { readonly opened: boolean } {
  let real: T | undefined;
  let opening: Promise<T> | undefined;
  const ensure = () =>
    (opening ??= open().then(
      (s) => (real = s),
      (err: unknown) => {
        opening = undefined;
        throw err;
      },
    ));
  return new Proxy({} as T & { readonly opened: boolean }, {
    get(_t, prop: string) {
      if (prop === "opened") return real !== undefined;
      if (prop === "close") return async () => (opening ? (await opening.catch(() => undefined))?.close() : undefined);
      if (prop === "then") return undefined;
      const answer = empty[prop as keyof T];
      return async (...args: unknown[]) => {
        if (!real && !opening && answer) return answer();
        const s = real ?? (await ensure());
        return (s[prop as keyof T] as (...a: unknown[]) => unknown).apply(s, args);
      };
    },
  });
}
