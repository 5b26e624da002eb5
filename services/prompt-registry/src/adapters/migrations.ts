import type { MigrationLedger } from "@tessera/sql";

/**
 * The prompt store's schema, as versioned migrations in TypeScript strings (the esbuild bundle
 * carries them). Its ledger is `prompt_schema_migrations`, so it can live in authz's database
 * (all-in-one PGlite, or one Postgres) without their versions meeting.
 */

const INITIAL = `
CREATE TABLE prompts (
  tenant_id      text NOT NULL,
  name           text NOT NULL,
  description    text NOT NULL DEFAULT '',
  -- The highest version number: the next version takes it + 1 (the row lock orders publishers).
  latest_version integer NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  created_by     text NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, name)
);

CREATE TABLE prompt_versions (
  tenant_id  text NOT NULL,
  name       text NOT NULL,
  version    integer NOT NULL CHECK (version > 0),
  spec       jsonb NOT NULL,
  digest     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, name, version),
  FOREIGN KEY (tenant_id, name) REFERENCES prompts (tenant_id, name)
);

-- Versions are immutable: the database itself refuses to change or remove one.
CREATE FUNCTION prompt_versions_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'prompt versions are immutable: % refused', TG_OP;
END
$$;
CREATE TRIGGER prompt_versions_insert_only BEFORE UPDATE OR DELETE ON prompt_versions
  FOR EACH ROW EXECUTE FUNCTION prompt_versions_insert_only();

CREATE TABLE prompt_labels (
  tenant_id  text NOT NULL,
  name       text NOT NULL,
  label      text NOT NULL,
  -- [{"version": 3, "weight": 90}, {"version": 4, "weight": 10}]; one entry: the label is that version.
  targets    jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, name, label),
  FOREIGN KEY (tenant_id, name) REFERENCES prompts (tenant_id, name)
);

CREATE TABLE prompt_history (
  id           text PRIMARY KEY,
  at           timestamptz NOT NULL,
  actor        text NOT NULL,
  tenant_id    text NOT NULL,
  name         text NOT NULL,
  action       text NOT NULL CHECK (action IN ('prompt.create', 'version.publish', 'label.set', 'label.delete')),
  version      integer NOT NULL DEFAULT 0,
  label        text NOT NULL DEFAULT '',
  label_before jsonb,
  label_after  jsonb
);
CREATE INDEX prompt_history_prompt_idx ON prompt_history (tenant_id, name, id);
`;

/** Prompt APIs published at run time, and their changes in the history. */
const APIS = `
CREATE TABLE prompt_apis (
  tenant_id  text NOT NULL,
  path       text NOT NULL,
  -- The definition: a prompt_apis entry of the configuration without its tenant.
  spec       jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by text NOT NULL DEFAULT '',
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, path)
);

ALTER TABLE prompt_history DROP CONSTRAINT prompt_history_action_check;
ALTER TABLE prompt_history ADD CONSTRAINT prompt_history_action_check
  CHECK (action IN ('prompt.create', 'version.publish', 'label.set', 'label.delete', 'api.publish', 'api.delete'));
-- api.* entries: name is the API's path; the definition before and after the change.
ALTER TABLE prompt_history ADD COLUMN api_before jsonb;
ALTER TABLE prompt_history ADD COLUMN api_after jsonb;
`;

/** The prompt store's ledger: its own table and advisory lock key. Append only. */
export const PROMPT_LEDGER: MigrationLedger = {
  table: "prompt_schema_migrations",
  lockKey: "7316925478120616",
  migrations: [
    { version: 1, name: "prompts_versions_labels_history", sql: INITIAL },
    { version: 2, name: "prompt_apis", sql: APIS },
  ],
};
