import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Paths whose values must never reach a log line: credentials, provider keys, prompt and
 * answer text. pino replaces them with "[redacted]" before serialising.
 */
const REDACT_PATHS = [
  "credential",
  "apiKey",
  "api_key",
  "authorization",
  "headers.authorization",
  "headers[\"x-api-key\"]",
  "*.credential",
  "*.apiKey",
  "*.authorization",
  "messages",
  "*.messages",
];

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Component name, e.g. "ingress". */
  name: string;
  /** Minimum level; defaults to TESSERA_LOG_LEVEL or "info". */
  level?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to read lines back. */
  destination?: NodeJS.WritableStream;
}

/** A structured JSON logger with secrets redacted. */
export function createLogger(opts: LoggerOptions): Logger {
  const level = opts.level ?? process.env["TESSERA_LOG_LEVEL"] ?? "info";
  return pino(
    {
      name: opts.name,
      level,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { service: opts.name },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? pino.destination({ sync: false }),
  );
}
