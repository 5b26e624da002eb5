/**
 * What the domain tests (admin, authorizer, identity) share: an assertion for refusals and a
 * fixture that opens an in-memory store for a test file and builds resolvers and admins over it.
 */
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { sha256Hex, TesseraError } from "@tessera/runtime";
import { memoryLogger } from "../../../../tests/helpers/log.js";
import { openPgliteStore } from "../adapters/sql-store.js";
import { createAdmin, type AdminDeps } from "./admin.js";
import { createIdentityResolver, type IdentityDeps } from "./identity.js";
import { createMemoryLimiter } from "./limiter-memory.js";
import type { AuthzStore } from "./store.js";

/** Asserts that `p` rejects with a TesseraError of this kind, `details.code` and HTTP status; returns the error. */
export async function refused(p: Promise<unknown>, kind: string, code: string | undefined, status: number): Promise<TesseraError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof TesseraError, `expected a TesseraError, got ${String(caught)}`);
  assert.equal(caught.kind, kind, caught.message);
  assert.equal(caught.details.code, code, caught.message);
  assert.equal(caught.status, status);
  return caught;
}

/** The createKey fields a test key leaves empty: no model or prompt lists, no redaction policy, no expiry. */
export const noKeyLists: { modelsAllow: string[]; modelsDeny: string[]; promptsAllow: string[]; apisAllow: string[]; redactionPolicy: string; ttlSeconds: number } = {
  modelsAllow: [],
  modelsDeny: [],
  promptsAllow: [],
  apisAllow: [],
  redactionPolicy: "",
  ttlSeconds: 0,
};

export interface AuthzFixtureOptions {
  /** The operator's bootstrap token: resolvers get its SHA-256 as `operatorTokenHash`. */
  operatorToken: string;
  /** The test file's clock, handed to every resolver and admin. */
  now: () => number;
  /** The name resolvers' memory loggers log under. */
  logName: string;
}

/**
 * A test file's authz fixture. Registers `before`/`after` hooks that open an in-memory PGlite
 * store and close it, so call it once at the top level of the file. `store` may be read only
 * while the file's tests run.
 */
export function authzFixture({ operatorToken, now, logName }: AuthzFixtureOptions) {
  let opened: AuthzStore | undefined;
  before(async () => {
    opened = await openPgliteStore({ path: "" });
  });
  after(async () => {
    await opened?.close();
  });

  const fixture = {
    /** The store shared by the file's tests. */
    get store(): AuthzStore {
      if (!opened) throw new Error("the test store is open only while the file's tests run");
      return opened;
    },

    /**
     * An identity resolver over the shared store with its own memory limiter and logger: no
     * static keys, a 10 s cache, failed authentications unlimited. `over` replaces any dependency.
     */
    resolver(over: Partial<IdentityDeps> = {}) {
      const { log, lines } = memoryLogger(logName);
      const limiter = over.limiter ?? createMemoryLimiter();
      const identities = createIdentityResolver({
        store: fixture.store,
        limiter,
        staticKeys: [],
        operatorTokenHash: sha256Hex(operatorToken),
        cacheMs: 10_000,
        maxFailedAuthPerMinute: 0,
        log,
        now,
        ...over,
      });
      return { identities, limiter, log, lines };
    },

    /**
     * An admin over the shared store. Unless `deps` says otherwise: redaction policy "strict"
     * is known, a change drops the resolver's cache, and it logs to a logger of its own.
     */
    admin(deps: Pick<AdminDeps, "identities" | "limiter"> & Partial<AdminDeps>) {
      return createAdmin({
        store: fixture.store,
        redactionPolicies: new Set(["strict"]),
        onChange: () => deps.identities.invalidate(),
        now,
        ...deps,
        log: deps.log ?? memoryLogger("admin").log,
      });
    },
  };
  return fixture;
}
