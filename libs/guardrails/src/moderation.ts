/**
 * Per-tenant moderation: deny lists compiled once into a detector of "denied" findings.
 *
 * - `words`: whole words or phrases, case-insensitive, regex metacharacters escaped, any run of
 *   whitespace inside a phrase matching any whitespace; "whole word" means no letter, digit or
 *   underscore (in any script) right before or after. Rule `word`.
 * - `patterns`: regular expressions (JavaScript syntax, case-insensitive), validated when the
 *   list is compiled: a pattern that does not compile, or that matches the empty string, throws
 *   an Error naming it. Rule `pattern:<index>`.
 * - `topics`: named keyword lists, matched like words. Rule `topic:<name>`.
 *
 * Findings never carry the matched value, only the rule.
 */
import type { Detector, Finding } from "./types.js";

export interface DenyListConfig {
  words?: string[];
  patterns?: string[];
  topics?: Record<string, string[]>;
}

/** Confidence of each kind of finding: exact words and operator patterns are certain; topic keywords are a little looser. */
const WORD_SCORE = 1;
const PATTERN_SCORE = 1;
const TOPIC_SCORE = 0.9;

/** Escape the regex syntax characters (the set the `u` flag allows escaping). */
const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

/** A trie of the words (matched case-insensitively), unit by unit (a code point, or a whitespace run). */
interface TrieNode {
  end: boolean;
  next: Map<string, TrieNode>;
}
const WS = "\u0000ws";

function units(word: string): string[] {
  const out: string[] = [];
  for (const part of word.split(/(\s+)/u)) {
    if (part.length === 0) continue;
    if (/^\s+$/u.test(part)) out.push(WS);
    else out.push(...part);
  }
  return out;
}

/** The trie as a regex: shared prefixes factored out, so matching costs the depth of the trie, not the number of words. */
function trieSource(node: TrieNode): string {
  const alts: string[] = [];
  for (const [unit, child] of node.next) alts.push((unit === WS ? "\\s+" : escapeRegex(unit)) + trieSource(child));
  if (alts.length === 0) return "";
  const body = alts.length === 1 ? alts[0]! : `(?:${alts.join("|")})`;
  // A word may end here or go on: try going on first (longest match), then stop.
  return node.end ? `(?:${body})?` : body;
}

/** One regex matching any of `words` as whole words (longest first), or undefined for an empty list. */
function wordsRegex(words: readonly string[], what: string): RegExp | undefined {
  const root: TrieNode = { end: false, next: new Map() };
  let count = 0;
  for (const w of words) {
    const cleaned = typeof w === "string" ? w.trim().normalize("NFC") : "";
    if (cleaned.length === 0) continue;
    let node = root;
    for (const u of units(cleaned)) {
      let child = node.next.get(u);
      if (!child) node.next.set(u, (child = { end: false, next: new Map() }));
      node = child;
    }
    node.end = true;
    count++;
  }
  if (count === 0) return undefined;
  try {
    return new RegExp(`(?<![\\p{L}\\p{N}\\p{M}_])${trieSource(root)}(?![\\p{L}\\p{N}\\p{M}_])`, "giu");
  } catch (e) {
    throw new Error(`deny list: the ${what} could not be compiled (${(e as Error).message})`);
  }
}

interface Compiled {
  re: RegExp;
  rule: string;
  score: number;
}

/** Compile a deny list into a detector; throws an Error naming the first bad pattern. */
export function compileDenyList(cfg: DenyListConfig): Detector {
  const compiled: Compiled[] = [];

  const words = wordsRegex(cfg.words ?? [], "word list");
  if (words) compiled.push({ re: words, rule: "word", score: WORD_SCORE });

  (cfg.patterns ?? []).forEach((p, i) => {
    if (typeof p !== "string" || p.length === 0) throw new Error(`deny list: pattern #${i} is empty`);
    let re: RegExp;
    try {
      re = new RegExp(p, "gi");
    } catch (e) {
      throw new Error(`deny list: pattern #${i} ${JSON.stringify(p)} is not a valid regular expression: ${(e as Error).message}`);
    }
    re.lastIndex = 0;
    if (re.test("")) throw new Error(`deny list: pattern #${i} ${JSON.stringify(p)} matches the empty string, so it would match everywhere`);
    re.lastIndex = 0;
    compiled.push({ re, rule: `pattern:${i}`, score: PATTERN_SCORE });
  });

  for (const [name, list] of Object.entries(cfg.topics ?? {})) {
    if (!name.trim()) throw new Error("deny list: a topic has an empty name");
    if (!Array.isArray(list)) throw new Error(`deny list: topic ${JSON.stringify(name)} is not a list of keywords`);
    const re = wordsRegex(list, `keyword list of topic ${JSON.stringify(name)}`);
    if (re) compiled.push({ re, rule: `topic:${name}`, score: TOPIC_SCORE });
  }

  return (text: string): Finding[] => {
    if (typeof text !== "string" || text.length === 0 || compiled.length === 0) return [];
    const out: Finding[] = [];
    for (const c of compiled) {
      const re = c.re;
      re.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text)) !== null) {
        if (m[0].length === 0) {
          // Only patterns that match the empty string somewhere (e.g. "a|\\b") get here.
          re.lastIndex++;
          continue;
        }
        out.push({ type: "denied", start: m.index, end: m.index + m[0].length, score: c.score, rule: c.rule });
      }
    }
    out.sort((a, b) => a.start - b.start || b.end - a.end);
    return out;
  };
}
