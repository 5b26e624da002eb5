/**
 * The scanner: one normalisation, each enabled detector once over the normalised text, offsets
 * mapped back to the original, overlaps resolved by type priority. Built once per policy.
 */
import { normalize, type Normalized } from "./normalize.js";
import { detectAddress, detectCard, detectDob, detectEmail, detectIban, detectIp, detectPerson, detectPhone, detectSsn } from "./pii.js";
import type { Detector, EntityType, Finding } from "./types.js";

/** The detectors of this library, by type ("secret" and "denied" come in as `extra`). */
export const PII_DETECTORS: Readonly<Partial<Record<EntityType, Detector>>> = {
  email: detectEmail,
  phone: detectPhone,
  card: detectCard,
  iban: detectIban,
  ssn: detectSsn,
  ip: detectIp,
  dob: detectDob,
  address: detectAddress,
  person: detectPerson,
};

/** When two findings overlap, the one whose type comes first here is kept. */
export const TYPE_PRIORITY: readonly EntityType[] = ["secret", "iban", "card", "ssn", "email", "phone", "ip", "dob", "address", "person", "denied"];
const RANK: Readonly<Record<string, number>> = Object.fromEntries(TYPE_PRIORITY.map((t, i) => [t, i]));
function rank(t: EntityType): number {
  return RANK[t] ?? TYPE_PRIORITY.length;
}

export interface Scanner {
  /** Findings in `text` (UTF-16 offsets into `text` itself), non-overlapping, sorted by start. Never throws. */
  scan(text: string): Finding[];
}

/** Keep one finding per overlapping group: higher-priority type, then the longer, then the better scored. */
function better(a: Finding, b: Finding): boolean {
  const ra = rank(a.type);
  const rb = rank(b.type);
  if (ra !== rb) return ra < rb;
  const la = a.end - a.start;
  const lb = b.end - b.start;
  if (la !== lb) return la > lb;
  if (a.score !== b.score) return a.score > b.score;
  return a.start < b.start;
}

/**
 * Resolves overlaps in findings sorted by start. Findings that overlap nothing pass through; a
 * cluster of overlapping ones is settled greedily (best first, each kept if it overlaps nothing
 * kept), with a coverage bitmap over the cluster so a pathological cluster stays linear.
 */
export function resolveOverlaps(sorted: Finding[]): Finding[] {
  const out: Finding[] = [];
  let i = 0;
  while (i < sorted.length) {
    const first = sorted[i]!;
    let end = first.end;
    let j = i + 1;
    while (j < sorted.length && sorted[j]!.start < end) {
      if (sorted[j]!.end > end) end = sorted[j]!.end;
      j++;
    }
    if (j === i + 1) {
      out.push(first);
    } else {
      const cluster = sorted.slice(i, j).sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
      const base = first.start;
      const covered = new Uint8Array(end - base);
      const kept: Finding[] = [];
      for (const f of cluster) {
        let free = true;
        for (let k = f.start - base; k < f.end - base; k++) {
          if (covered[k]) {
            free = false;
            break;
          }
        }
        if (!free) continue;
        covered.fill(1, f.start - base, f.end - base);
        kept.push(f);
      }
      kept.sort((a, b) => a.start - b.start);
      for (const f of kept) out.push(f);
    }
    i = j;
  }
  return out;
}

function safeNormalize(text: string): Normalized {
  try {
    return normalize(text);
  } catch {
    const n = text.length;
    const id = (i: number) => (i > 0 ? Math.min(n, Math.floor(i)) : 0);
    return { text, toOriginal: id, toOriginalEnd: id, changed: false };
  }
}

/**
 * A scanner for `types` (those this library detects; others are ignored) plus `extra` detectors
 * (secrets, deny lists, …), each run once over the normalised text.
 */
export function createScanner(types: readonly EntityType[], extra: Detector[] = []): Scanner {
  const detectors: Detector[] = [];
  for (const t of new Set(types)) {
    const d = PII_DETECTORS[t];
    if (d) detectors.push(d);
  }
  detectors.push(...extra);

  return {
    scan(text: string): Finding[] {
      if (typeof text !== "string" || text.length === 0 || detectors.length === 0) return [];
      const found: Finding[] = [];
      try {
        collect(text, found);
        if (found.length <= 1) return found;
        found.sort((a, b) => a.start - b.start || b.end - a.end);
        return resolveOverlaps(found);
      } catch {
        // Unreachable in practice (every step above is guarded); still, never throw into a request.
        return [];
      }
    },
  };

  function collect(text: string, found: Finding[]): void {
    const norm = safeNormalize(text);
    const n = norm.text.length;
    for (const detect of detectors) {
      let res: Finding[];
      try {
        res = detect(norm.text);
      } catch {
        continue; // one broken detector must not take the others (or the request) down
      }
      if (!Array.isArray(res)) continue;
      for (const f of res) {
        if (!f || typeof f.start !== "number" || typeof f.end !== "number") continue;
        const s = Math.max(0, Math.floor(f.start));
        const e = Math.min(n, Math.ceil(f.end));
        if (!(e > s)) continue; // also NaN
        const start = norm.toOriginal(s);
        const end = norm.toOriginalEnd(e);
        if (!(end > start)) continue;
        const score = Number.isFinite(f.score) ? Math.min(1, Math.max(0, f.score)) : 0;
        found.push({ type: f.type, start, end, score, rule: String(f.rule) });
      }
    }
  }
}
