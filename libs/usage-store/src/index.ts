export * from "./port.js";
export { type PortLogger as Logger, createStderrLogger } from "@tessera/runtime";
export { escapeString, identifier, integerLiteral, sqlValues, type SqlValues } from "./sql.js";
export { createEmbeddedUsageStore, type EmbeddedUsageStoreOptions } from "./embedded.js";
export { createClickHouseUsageStore, type ClickHouseUsageStoreOptions } from "./clickhouse.js";
export { MIGRATIONS, type Migration, type MigrationContext } from "./clickhouse-schema.js";
export { planSource } from "./query.js";
