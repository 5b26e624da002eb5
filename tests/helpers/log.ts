import { Writable } from "node:stream";
import { createLogger, type Logger } from "@tessera/runtime";

/** A logger that keeps its lines in memory, so tests can assert what was (not) logged. */
export function memoryLogger(name = "test"): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { log: createLogger({ name, level: "debug", destination }), lines };
}
