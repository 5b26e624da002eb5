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

/**
 * The values of one query, bound as server-side parameters (`{p0:String}`, ClickHouse 19.x and
 * later: the client sends them apart from the SQL text) where the server has them, else written
 * into the text as literals by the escaper above. Either way no caller text reaches the SQL
 * unescaped.
 */
export interface SqlValues {
  /** A String value. */
  string(value: string): string;
  /** An integer value of a ClickHouse integer type (e.g. "Int64", "UInt32"). */
  integer(value: number | bigint, type: string): string;
  /** The parameters to send with the query (empty with literals). */
  readonly params: Record<string, string | number | bigint>;
}

/** Values for one query: server-side parameters when `serverParams`, escaped literals otherwise. */
export function sqlValues(serverParams: boolean): SqlValues {
  const params: Record<string, string | number | bigint> = {};
  let n = 0;
  const bind = (value: string | number | bigint, type: string) => {
    const name = `p${n++}`;
    params[name] = value;
    return `{${name}:${type}}`;
  };
  return {
    params,
    string: (v) => (serverParams ? bind(v, "String") : escapeString(v)),
    integer: (v, type) => {
      const text = integerLiteral(v);
      return serverParams ? bind(v, identifier(type, "integer type")) : text;
    },
  };
}
