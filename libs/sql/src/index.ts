export * from "./client.js";
export * from "./databases.js";
export * from "./lazy.js";
export { openPgliteClient } from "./pglite.js";
export { openPostgresClient, describeTarget, type PostgresOptions } from "./postgres.js";
