import { createHash } from "node:crypto";

/** One version and its share of a label's traffic. A label on one version is a split of one. */
export interface SplitEntry {
  version: number;
  weight: number;
}

/** Most versions one label may split between. */
export const MAX_SPLIT = 10;

/**
 * What is wrong with a split, or undefined when nothing is: at least one entry, at most
 * MAX_SPLIT, positive integer versions that exist (`exists`), each once, integer weights
 * from 1 to 10000.
 */
export function splitProblem(split: readonly SplitEntry[], exists: (version: number) => boolean): string | undefined {
  if (split.length === 0) return "a label needs a version, or a split of at least one entry";
  if (split.length > MAX_SPLIT) return `a split has at most ${MAX_SPLIT} versions, not ${split.length}`;
  const seen = new Set<number>();
  for (const [i, e] of split.entries()) {
    if (!Number.isInteger(e.version) || e.version < 1) return `split[${i}].version must be a version number (1, 2, …), not ${e.version}`;
    if (!Number.isInteger(e.weight) || e.weight < 1 || e.weight > 10_000) return `split[${i}].weight must be a whole number from 1 to 10000, not ${e.weight}`;
    if (seen.has(e.version)) return `split[${i}]: version ${e.version} is in the split twice`;
    if (!exists(e.version)) return `split[${i}]: there is no version ${e.version}`;
    seen.add(e.version);
  }
  return undefined;
}

/**
 * The version a caller gets from a split. Sticky: the same (prompt, label, sticky key) always
 * lands on the same version for as long as the split stays the same, because the bucket is a
 * hash of the three, not a coin toss; across many keys each version's share approaches its
 * weight. Without a sticky key the pick is random.
 */
export function pickVersion(split: readonly SplitEntry[], prompt: string, label: string, stickyKey: string): number {
  if (split.length === 1) return split[0]!.version;
  const total = split.reduce((n, e) => n + e.weight, 0);
  const unit = stickyKey ? createHash("sha256").update(`${prompt}\u0000${label}\u0000${stickyKey}`).digest().readUIntBE(0, 6) / 2 ** 48 : Math.random();
  let bucket = unit * total;
  for (const e of split) {
    if (bucket < e.weight) return e.version;
    bucket -= e.weight;
  }
  return split[split.length - 1]!.version;
}
