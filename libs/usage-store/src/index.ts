export * from "./port.js";
export { type PortLogger as Logger, createStderrLogger } from "@tessera/runtime";
export { escapeString, identifier, integerLiteral } from "./sql.js";
export { createEmbeddedUsageStore, type EmbeddedUsageStoreOptions } from "./embedded.js";
export {
  createClickHouseUsageStore,
  MIGRATIONS,
  type ClickHouseUsageStoreOptions,
  type Migration,
  type MigrationContext,
} from "./clickhouse.js";
