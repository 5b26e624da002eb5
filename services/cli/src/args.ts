/** A mistake in how the command was called: the CLI prints the command's usage and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

const UINT32_MAX = 4_294_967_295;

/** A comma-separated list ("a, b,,c" → ["a", "b", "c"]); absent: empty. */
export function list(v: string | undefined): string[] {
  return (v ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** A duration in whole seconds: "3600", "90s", "15m", "12h", "30d" or "2w". */
export function duration(v: string, flag: string): bigint {
  const m = /^(\d+)([smhdw]?)$/.exec(v.trim());
  if (!m) throw new UsageError(`--${flag} must be a duration like 3600, 15m, 12h or 30d, not '${v}'`);
  return BigInt(m[1]!) * BigInt(UNIT_SECONDS[m[2] || "s"]!);
}

/** A whole number that fits a uint32 (rpm, limits). */
export function uint32(v: string, flag: string): number {
  const n = /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n > UINT32_MAX) throw new UsageError(`--${flag} must be a whole number from 0 to ${UINT32_MAX}, not '${v}'`);
  return n;
}

/** A whole number that fits a uint64 (token counts). */
export function uint64(v: string, flag: string): bigint {
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`--${flag} must be a whole number, not '${v}'`);
  const n = BigInt(v.trim());
  if (n >= 2n ** 64n) throw new UsageError(`--${flag} is too large`);
  return n;
}

/** A non-negative amount of US dollars ("100", "12.50"). */
export function usd(v: string, flag: string): number {
  const n = /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new UsageError(`--${flag} must be an amount in USD like 100 or 12.50, not '${v}'`);
  return n;
}

/** An ISO 8601 date or time ("2025-01-01", "2025-01-01T12:00:00Z") as Unix milliseconds. */
export function isoTime(v: string, flag: string): bigint {
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) throw new UsageError(`--${flag} must be an ISO 8601 date or time like 2025-01-31 or 2025-01-31T12:00:00Z, not '${v}'`);
  return BigInt(t);
}

/** `v` if it is one of `choices`. */
export function oneOf<C extends string>(v: string, flag: string, choices: readonly C[]): C {
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${flag} must be one of ${choices.join(", ")}, not '${v}'`);
  return v as C;
}
