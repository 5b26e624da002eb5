/**
 * The logging surface the port libraries (events, usage-store) need: the pino calling convention (fields first, then
 * message), so the runtime's pino logger can be passed as is, without this library depending
 * on the runtime.
 */
export interface PortLogger {
  debug(fields: object, msg?: string): void;
  info(fields: object, msg?: string): void;
  warn(fields: object, msg?: string): void;
  error(fields: object, msg?: string): void;
}

/**
 * Used when no logger is given: warnings and errors go to stderr as one JSON line each, so a
 * lost event is never silent; debug and info are dropped.
 */
export function createStderrLogger(name: string): PortLogger {
  const line = (level: string) => (fields: object, msg?: string) => {
    process.stderr.write(
      `${JSON.stringify({ level, time: new Date().toISOString(), name, msg, ...fields })}\n`,
    );
  };
  return { debug: () => {}, info: () => {}, warn: line("warn"), error: line("error") };
}

/** Turns an unknown thrown value into loggable fields. */
export function errorFields(err: unknown): { err: string } {
  return { err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}
