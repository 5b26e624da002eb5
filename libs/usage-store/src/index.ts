export * from "./port.js";
export { type Logger, createStderrLogger } from "./log.js";
export { escapeString, identifier, integerLiteral } from "./sql.js";
export { createEmbeddedUsageStore, type EmbeddedUsageStoreOptions } from "./embedded.js";
export {
  createClickHouseUsageStore,
  MIGRATIONS,
  type ClickHouseUsageStoreOptions,
  type Migration,
  type MigrationContext,
} from "./clickhouse.js";
