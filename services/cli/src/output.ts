import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";

/** One table column: its title and how a row shows in it. */
export interface Column<T> {
  title: string;
  value: (row: T) => string;
}

/** A field's value on a generated message (messages are plain objects keyed by local name). */
function fieldValue(msg: Message, field: DescField): unknown {
  return (msg as unknown as Record<string, unknown>)[field.localName];
}

/** Unix milliseconds as ISO 8601 (to the second when exact); 0 means unset: "-". */
export function time(ms: bigint | number): string {
  if (Number(ms) === 0) return "-";
  return new Date(Number(ms)).toISOString().replace(".000Z", "Z");
}

/** How one field's value reads in a table or record: lists joined, times in ISO, blanks as "-". */
export function formatField(field: DescField, value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? "-" : value.map(String).join(",");
  if (field.name.endsWith("_ms") && (typeof value === "bigint" || typeof value === "number")) return time(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (value === undefined || value === "") return "-";
  return String(value);
}

function findField(schema: DescMessage, name: string): DescField {
  const f = schema.fields.find((x) => x.name === name);
  if (!f) throw new Error(`${schema.typeName} has no field ${name}`);
  return f;
}

/** A column showing one field, titled by its upper-cased proto name. */
export function fieldColumn<T extends Message>(schema: DescMessage, name: string): Column<T> {
  const f = findField(schema, name);
  return { title: name.toUpperCase(), value: (row) => formatField(f, fieldValue(row, f)) };
}

/** Rows as aligned columns under a header; no rows: "(none)". */
export function table<T extends Message>(schema: DescMessage, rows: readonly T[], columns: readonly (string | Column<T>)[]): string[] {
  if (rows.length === 0) return ["(none)"];
  const cols = columns.map((c) => (typeof c === "string" ? fieldColumn<T>(schema, c) : c));
  const cells = [cols.map((c) => c.title), ...rows.map((r) => cols.map((c) => c.value(r)))];
  const widths = cols.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "));
}

/** Every scalar and list field of a message as aligned `name  value` lines. */
export function record(schema: DescMessage, msg: Message | undefined): string[] {
  if (!msg) return [];
  const fields = schema.fields.filter((f) => f.fieldKind === "scalar" || f.fieldKind === "list");
  const width = Math.max(...fields.map((f) => f.name.length));
  return fields.map((f) => `${f.name.padEnd(width)}  ${formatField(f, fieldValue(msg, f))}`);
}
