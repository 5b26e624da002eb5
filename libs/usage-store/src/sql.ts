/**
 * Building ClickHouse SQL text safely without server-side query parameters, which ClickHouse
 * 18.16 (Debian's) lacks: `{name:Type}` placeholders arrived in 19.x, and 18.16 rejects the
 * `param_*` URL arguments as unknown settings. Every value that reaches SQL text goes through
 * one of these functions; the escaper is checked against the real server in the tests.
 */

const ESCAPES: Record<string, string> = {
  "\\": "\\\\",
  "'": "\\'",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\0": "\\0",
  "\b": "\\b",
  "\f": "\\f",
};

/**
 * A ClickHouse string literal (quotes included) for any string: backslash and single quote
 * are escaped, and every other control character (U+0000–U+001F, U+007F) is written as an
 * escape, so the literal is plain printable text. Non-ASCII characters pass through and are
 * sent as UTF-8. (A JavaScript string holding a lone surrogate has no UTF-8 form; it reaches
 * the server as U+FFFD, as with any text sent over HTTP.)
 */
export function escapeString(value: string): string {
  return `'${value.replace(/[\\'\u0000-\u001f\u007f]/g, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)}'`;
}

/** An integer literal; throws for anything that is not a safe integer. */
export function integerLiteral(value: number | bigint): string {
  if (typeof value === "bigint") return value.toString();
  if (!Number.isSafeInteger(value)) throw new Error(`not a safe integer: ${value}`);
  return String(value);
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A database or table name, checked to be a plain identifier (letters, digits, underscore),
 * so it can be written unquoted in every ClickHouse version.
 */
export function identifier(name: string, what = "identifier"): string {
  if (!IDENTIFIER.test(name)) {
    throw new Error(`${what} must match ${IDENTIFIER} (letters, digits, underscore), got ${JSON.stringify(name)}`);
  }
  return name;
}
