import type { MigrationLedger } from "@tessera/sql";

/**
 * The authz store's schema, as versioned migrations kept in TypeScript strings so the esbuild
 * bundle carries them (no SQL files to ship). One list serves Postgres and PGlite alike; the
 * rules are in @tessera/sql's MigrationLedger.
 */

const SCOPES = `('tenant', 'team', 'user', 'key')`;

const INITIAL = `
CREATE TABLE tenants (
  id         text PRIMARY KEY,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
  tenant_id   text NOT NULL,
  id          text NOT NULL,
  name        text NOT NULL,
  models_allow text[] NOT NULL DEFAULT '{}',
  models_deny  text[] NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE users (
  tenant_id  text NOT NULL,
  id         text NOT NULL,
  email      text NOT NULL,
  team_id    text NOT NULL DEFAULT '',
  roles      text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE api_keys (
  id               text PRIMARY KEY,
  tenant_id        text NOT NULL,
  team_id          text NOT NULL DEFAULT '',
  user_id          text NOT NULL DEFAULT '',
  name             text NOT NULL DEFAULT '',
  key_hash         text NOT NULL,
  prefix           text NOT NULL DEFAULT '',
  roles            text[] NOT NULL DEFAULT '{}',
  models_allow     text[] NOT NULL DEFAULT '{}',
  models_deny      text[] NOT NULL DEFAULT '{}',
  prompts_allow    text[] NOT NULL DEFAULT '{}',
  redaction_policy text NOT NULL DEFAULT '',
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz,
  revoked_at       timestamptz,
  rotated_from     text NOT NULL DEFAULT '',
  CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

CREATE TABLE limits (
  tenant_id           text NOT NULL,
  scope               text NOT NULL CHECK (scope IN ${SCOPES}),
  scope_id            text NOT NULL,
  requests_per_minute bigint NOT NULL DEFAULT 0,
  tokens_per_minute   bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, scope, scope_id)
);

CREATE TABLE budgets (
  tenant_id      text NOT NULL,
  id             text NOT NULL,
  scope          text NOT NULL CHECK (scope IN ${SCOPES}),
  scope_id       text NOT NULL,
  period         text NOT NULL CHECK (period IN ('day', 'month', 'custom')),
  starts_at      timestamptz,
  ends_at        timestamptz,
  limit_usd      double precision NOT NULL DEFAULT 0,
  soft_limit_usd double precision NOT NULL DEFAULT 0,
  token_quota    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX budgets_scope_idx ON budgets (tenant_id, scope, scope_id);

CREATE TABLE subscriptions (
  tenant_id     text NOT NULL,
  id            text NOT NULL,
  team_id       text NOT NULL DEFAULT '',
  resource_kind text NOT NULL CHECK (resource_kind IN ('model', 'prompt')),
  resource      text NOT NULL,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'revoked')),
  requested_by  text NOT NULL DEFAULT '',
  decided_by    text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  decided_at    timestamptz,
  note          text NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, id)
);
-- isSubscribed: approved rows only, looked up by (tenant, kind, resource, team).
CREATE INDEX subscriptions_approved_idx ON subscriptions (tenant_id, resource_kind, resource, team_id)
  WHERE status = 'approved';

CREATE TABLE audit_log (
  id        text PRIMARY KEY,
  at        timestamptz NOT NULL,
  actor     text NOT NULL,
  tenant_id text NOT NULL DEFAULT '',
  action    text NOT NULL,
  target    text NOT NULL DEFAULT '',
  details   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id);
`;

/** Keys limited to published prompt APIs (paths, or prefixes ending in *), as configuration keys' `apis`. */
const KEY_APIS = `ALTER TABLE api_keys ADD COLUMN apis_allow text[] NOT NULL DEFAULT '{}';`;

/** Every migration, in version order. Append only. */
export const MIGRATIONS: MigrationLedger["migrations"] = [
  { version: 1, name: "initial_schema", sql: INITIAL },
  { version: 2, name: "api_keys_apis_allow", sql: KEY_APIS },
];

/**
 * The authz ledger: `schema_migrations` (its name from before stores shared a database), and
 * its advisory lock key ("tessera authz" in spirit).
 */
export const AUTHZ_LEDGER: MigrationLedger = { table: "schema_migrations", lockKey: "7316925478120615", migrations: MIGRATIONS };
