/**
 * PII detectors: one per entity type, each a pure function over a string, with its patterns
 * compiled once here at module load. Every detector first asks whether the text can hold its
 * type at all (no '@', no email) and then makes one pass over the text; none keeps or logs a
 * value, and a finding's `rule` names the pattern, never what it matched.
 *
 * Detectors run on normalised text (see normalize.ts) when called through the scanner, but are
 * safe on any string: huge, invalid UTF-16, control characters.
 */
import { isIP } from "node:net";
import { createRequire } from "node:module";
import type nlpType from "compromise";

/**
 * compromise (~0.75 s and tens of MB to load its lexicon) is loaded on the first name
 * detection, not at import: policies without `person` never pay for it.
 */
let nlpLoaded: typeof nlpType | undefined;
function nlp(): typeof nlpType {
  return (nlpLoaded ??= createRequire(import.meta.url)("compromise") as typeof nlpType);
}
import { findPhoneNumbersInText, type CountryCode } from "libphonenumber-js/max";
import type { Finding } from "./types.js";

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** Lower-cased text of the `n` characters before `i` (for context words). */
function before(text: string, i: number, n: number): string {
  return text.slice(Math.max(0, i - n), i).toLowerCase();
}

function digitsOf(s: string): string {
  return s.replace(/\D/g, "");
}

/** Resets a shared /g regex (detectors are synchronous, so sharing one compiled pattern is safe). */
function reset(re: RegExp, at = 0): RegExp {
  re.lastIndex = at;
  return re;
}

const HAS_DIGIT = /\d/;

// ---------------------------------------------------------------------------------------------
// Email

/**
 * RFC 5322 "dot-atom" local parts at a dotted domain with a TLD of letters (adapted from
 * services/redaction's EmailMasker). The look-behind keeps attempts to the start of a local part,
 * so the pattern stays linear on long runs.
 */
const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}(?![A-Za-z0-9-])/g;

export function detectEmail(text: string): Finding[] {
  if (!text.includes("@")) return [];
  const out: Finding[] = [];
  for (const m of text.matchAll(reset(EMAIL))) {
    let start = m.index;
    let value = m[0];
    // A dot cannot start or end a dot-atom: "...see.john@x.com" is still john@x.com.
    while (value.startsWith(".")) {
      value = value.slice(1);
      start++;
    }
    if (value.startsWith("@") || value.includes("..")) continue;
    out.push({ type: "email", start, end: m.index + m[0].length, score: 0.95, rule: "email" });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Phone

/** Countries whose national formats (no "+") are tried, in order. International numbers: any. */
export const PHONE_DEFAULT_COUNTRIES: readonly CountryCode[] = ["US", "GB", "DE", "FR", "IN", "BR"];

/**
 * Phone-shaped runs: an optional '+', then digits and parenthesised groups joined by at most two
 * of space / no-break space / . - /. Bounded, so a run of a million digits costs one attempt.
 * It must not start inside a word, an amount ($, €), a decimal (1.5), a time (10:30), an id
 * (ABC-123) or after '#'.
 */
const PHONE_CANDIDATE =
  /(?<![\p{L}\p{N}_@#$€£¥+=])(?<!\p{N}[.,:])(?<![\p{L}\p{N}][-/])(?:\+[ \u00A0]?)?(?:\(\d{1,5}\)|\d)(?:[ \u00A0./-]{0,2}(?:\(\d{1,5}\)|\d)){5,30}/gu;
const PHONE_POSITIVE_CONTEXT =
  /(?:\b(?:phone|tel|telephone|mobile|mob|cell|cellphone|call|calling|fax|whats ?app|sms|text me|reach me|ring|contact|dial|telefon|telefonnummer|handy|mobil|t[ée]l[ée]phone|t[ée]l|portable|telefone|celular|tel[ée]fono|m[óo]vil)\b|[☎📞📱])[^\n]{0,24}$/iu;
const PHONE_NEGATIVE_CONTEXT =
  /\b(?:order|invoice|account|acct|id|ref|reference|ticket|tracking|transaction|txn|serial|sku|isbn|po|case|customer|member|policy|confirmation|booking|version|build|release|v)\b\s*(?:number|no\.?|nr\.?|num|#|id)?\s*[:#]?\s*$/i;
const CURRENCY_BEFORE = /[$€£¥₹₽₩¢]\s*$|\b(?:usd|eur|gbp|inr|brl|chf|jpy|cad|aud|rs\.?)\s*$/i;
const AFTER_REJECT = /^(?:\s*(?:%|[$€£¥₹]|(?:usd|eur|gbp|dollars?|euros?|pounds?)\b)|[\p{L}\p{N}_])/iu;
/** A calendar date with a four-digit year anywhere in the run, or a short date as the whole run. */
const DATE_IN_RUN =
  /(?:^|\D)(?:(?:19|20)\d\d[-./ ](?:0?[1-9]|1[0-2])[-./ ](?:0?[1-9]|[12]\d|3[01])|(?:0?[1-9]|[12]\d|3[01])[-./](?:0?[1-9]|1[0-2]|[12]\d|3[01])[-./](?:19|20)\d\d)(?!\d)/;
const WHOLE_DATE = /^(?:(?:19|20)\d\d[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])|(?:0?[1-9]|[12]\d|3[01])[-./](?:0?[1-9]|1[0-2]|[12]\d|3[01])[-./](?:19|20)\d\d)$/;
const SHORT_DATE = /^(?:0?[1-9]|[12]\d|3[01])[-./](?:0?[1-9]|1[0-2]|[12]\d|3[01])[-./]\d\d$/;
const DOTTED_QUAD = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const SSN_SHAPE = /^\d{3}-\d{2}-\d{4}$/;

/**
 * libphonenumber calls allowed per detectPhone call. A prompt holds a handful of candidates; a
 * megabyte dump of distinct numbers would otherwise cost seconds. Beyond the budget, candidates are
 * read by FALLBACK_PHONE (format only, lower score, rule "phone_shape").
 */
export const PHONE_VALIDATION_BUDGET = 1500;
const FALLBACK_PHONE = /\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,5}|\(?\d{2,5}\)?[ ./-]\d{2,5}(?:[ .-]\d{2,5}){0,2}/g;

/** [start, end, international] of a number libphonenumber validated inside a candidate. */
type Reading = [number, number, boolean];

/**
 * libphonenumber's readings of candidate strings, kept across calls (bounded; cleared when
 * full). Chat calls resend their whole history every turn, so the same numbers come back
 * again and again; a reading is a pure function of the candidate and the country.
 */
const LIB_MEMO = new Map<string, Reading[]>();
const LIB_MEMO_MAX = 20_000;

function libFind(candidate: string, country: CountryCode | undefined): Reading[] {
  const key = `${country ?? "+"}|${candidate}`;
  const hit = LIB_MEMO.get(key);
  if (hit) return hit;
  const r = libFindUncached(candidate, country);
  if (LIB_MEMO.size >= LIB_MEMO_MAX) LIB_MEMO.clear();
  LIB_MEMO.set(key, r);
  return r;
}

function libFindUncached(candidate: string, country: CountryCode | undefined): Reading[] {
  const r: Reading[] = [];
  try {
    for (const f of findPhoneNumbersInText(candidate, country ? { defaultCountry: country } : undefined)) {
      // international: the number was written with its calling code
      const intl = /^\s*\+/.test(candidate.slice(f.startsAt, f.endsAt)) || candidate[f.startsAt - 1] === "+";
      r.push([f.startsAt, f.endsAt, intl]);
    }
  } catch {
    // libphonenumber throws on some malformed input; nothing to report then
  }
  return r;
}

function phoneShapeRejected(value: string, intl: boolean): boolean {
  const digits = digitsOf(value).length;
  if (intl ? digits < 8 || digits > 15 : digits < 7 || digits > 12) return true;
  if (DATE_IN_RUN.test(value) || SHORT_DATE.test(value)) return true;
  if (DOTTED_QUAD.test(value) || SSN_SHAPE.test(value)) return true;
  // "1 2 3 4 5 6 7": digits listed one by one are not how numbers are written
  if ((value.match(/(?<!\d)\d(?!\d)/g)?.length ?? 0) > 2) return true;
  if (!intl) {
    const dots = value.split(".");
    // a decimal (1234567.89) or a version string (10.0.19041.1)
    if (dots.length === 2 && /^\d{1,2}$/.test(dots[1]!) && !/[ \-/()]/.test(value)) return true;
    if (dots.length >= 3 && dots.some((g) => /^\d$/.test(g))) return true;
  }
  return false;
}

/** A country code and check digits right before a digit run: it is an IBAN's body. */
const IBAN_HEAD_BEFORE = /[A-Z]{2}\d{2}[ \u00A0]?$/;

export function detectPhone(text: string): Finding[] {
  if (!HAS_DIGIT.test(text)) return [];
  const out: Finding[] = [];
  // Readings per candidate string and country, for this call only (repeated numbers in one text).
  const memo = new Map<string, Reading[]>();
  let budget = PHONE_VALIDATION_BUDGET;
  const re = reset(PHONE_CANDIDATE);
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    let raw = m[0];
    const at = m.index;
    if (/^\d/.test(text.slice(at + raw.length, at + raw.length + 1))) {
      // The run hit the length cap inside a list of numbers ("415-555-2671 415-555-2672 …"):
      // end this candidate at its last space and start the next one there.
      const cut = raw.search(/[ \u00A0][^ \u00A0]*$/);
      if (cut <= 0) continue; // one long digit run: an id
      raw = raw.slice(0, cut);
      re.lastIndex = at + cut + 1;
    }
    const nDigits = digitsOf(raw).length;
    if (nDigits < 7) continue;
    // E.164 numbers have at most 15 digits: a longer unspaced run, or a Luhn-valid card, is
    // not worth a lookup (a spaced run may still be a list of numbers).
    if (nDigits > 15 && (!/[ \u00A0]/.test(raw) || nDigits > 30 || (nDigits <= 19 && luhn(digitsOf(raw))))) continue;
    // The body of an IBAN ("DE89 3704 0044 …"): the IBAN detector's, not a phone.
    if (IBAN_HEAD_BEFORE.test(text.slice(Math.max(0, at - 6), at))) continue;
    if (DOTTED_QUAD.test(raw) || SSN_SHAPE.test(raw) || SHORT_DATE.test(raw) || WHOLE_DATE.test(raw)) continue; // not worth a lookup
    if ((raw.match(/(?<!\d)\d(?!\d)/g)?.length ?? 0) > 4) continue; // "1 2 3 4 5 …"
    const after = text.slice(at + raw.length, at + raw.length + 12);
    if (AFTER_REJECT.test(after)) continue;
    const ctx = before(text, at, 40);
    if (CURRENCY_BEFORE.test(ctx)) continue;
    const positive = PHONE_POSITIVE_CONTEXT.test(ctx);
    if (!positive && PHONE_NEGATIVE_CONTEXT.test(ctx)) continue;

    // "0044 20 …" is the international prefix used in most of the world: read it as "+" (same length).
    const idd = raw.startsWith("00");
    const candidate = idd ? " +" + raw.slice(2) : raw;
    const total = digitsOf(candidate).length;
    const valid: Array<{ s: number; e: number; intl: boolean; shapeOnly: boolean }> = [];
    const accept = (s0: number, e: number, intl0: boolean, shapeOnly = false): number => {
      const s = idd && s0 === 1 ? 0 : s0;
      const intl = intl0 || idd;
      const value = raw.slice(s, e);
      if (phoneShapeRejected(value, intl)) return 0;
      const formatted = intl || /[ \u00A0./()-]/.test(value);
      if (!formatted && !positive) return 0; // a bare national digit run: an id unless called a phone
      valid.push({ s, e, intl, shapeOnly });
      return digitsOf(value).length;
    };

    let degraded = false;
    const countries: Array<CountryCode | undefined> = candidate.includes("+") ? [undefined, ...PHONE_DEFAULT_COUNTRIES] : [...PHONE_DEFAULT_COUNTRIES];
    for (const country of countries) {
      const key = `${country ?? "+"}|${candidate}`;
      let readings = memo.get(key);
      if (!readings) {
        if (budget <= 0) {
          degraded = true;
          break;
        }
        budget--;
        readings = libFind(candidate, country);
        memo.set(key, readings);
      }
      let digits = 0;
      for (const [s, e, intl] of readings) digits += accept(s, e, intl);
      if (digits >= total) break; // one reading covers the whole run
    }
    if (degraded) {
      for (const f of raw.matchAll(reset(FALLBACK_PHONE))) {
        const s = f.index;
        const e = s + f[0].length;
        accept(s, e, f[0].startsWith("+"), true);
      }
    }

    // The longest readings win ("(11) 91234-5678" is a whole Brazilian number, not the
    // French-valid "91234-5678" inside it).
    valid.sort((x, y) => y.e - y.s - (x.e - x.s) || x.s - y.s);
    const taken: Array<[number, number]> = [];
    for (const { s, e, intl, shapeOnly } of valid) {
      if (taken.some(([a, b]) => s < b && a < e)) continue;
      taken.push([s, e]);
      out.push({
        type: "phone",
        start: at + s,
        end: at + e,
        score: shapeOnly ? 0.6 : positive ? 0.95 : intl ? 0.9 : 0.8,
        rule: shapeOnly ? "phone_shape" : positive ? "phone_context" : intl ? "phone_intl" : "phone_national",
      });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

// ---------------------------------------------------------------------------------------------
// Payment cards

/**
 * 13–19 digits, optionally grouped by spaces or dashes. Not inside a longer number, a word, a
 * decimal or a dashed id.
 */
const CARD_CANDIDATE = /(?<![\p{L}\p{N}_.,+/-])\d(?:[ -]?\d){12,18}(?![\p{L}\p{N}_]|[.,/-]\d)/gu;

/** Whether a card number of this many digits with this prefix is issued by a known scheme. */
function knownIin(d: string): boolean {
  const len = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  const p6 = Number(d.slice(0, 6));
  // Visa
  if (d[0] === "4") return len === 13 || len === 16 || len === 19;
  // Mastercard
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return len === 16;
  // American Express
  if (p2 === 34 || p2 === 37) return len === 15;
  // Discover
  if (p4 === 6011 || (p3 >= 644 && p3 <= 649) || p2 === 65 || (p6 >= 622126 && p6 <= 622925)) return len >= 16 && len <= 19;
  // JCB
  if (p4 >= 3528 && p4 <= 3589) return len >= 16 && len <= 19;
  // Diners Club
  if ((p3 >= 300 && p3 <= 305) || p4 === 3095 || p2 === 36 || p2 === 38 || p2 === 39) return len >= 14 && len <= 19;
  // UnionPay
  if (p2 === 62) return len >= 16 && len <= 19;
  // Maestro
  if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return len >= 13 && len <= 19;
  return false;
}

function luhn(d: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = d.length - 1; i >= 0; i--) {
    let v = d.charCodeAt(i) - 48;
    if (dbl) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

export function detectCard(text: string): Finding[] {
  if (!HAS_DIGIT.test(text)) return [];
  const out: Finding[] = [];
  for (const m of text.matchAll(reset(CARD_CANDIDATE))) {
    const raw = m[0];
    const groups = raw.split(/[ -]/);
    const seps = raw.match(/[ -]/g) ?? [];
    // A grouping people write: one kind of separator, groups of 3–6 digits. Keep the longest such
    // prefix; the run may also have swallowed a trailing group ("4111 1111 1111 1111 2025"), so
    // groups are dropped from the end until a valid number remains.
    let usable = groups.length;
    if (groups.length > 1) {
      usable = 0;
      while (usable < groups.length && groups[usable]!.length >= 3 && groups[usable]!.length <= 6 && (usable === 0 || seps[usable - 1] === seps[0])) usable++;
    }
    for (let n = usable; n >= 1; n--) {
      const gs = groups.slice(0, n);
      const d = gs.join("");
      if (d.length < 13) break;
      if (d.length > 19 || !knownIin(d) || !luhn(d)) continue;
      out.push({ type: "card", start: m.index, end: m.index + d.length + (n - 1), score: 1, rule: "luhn" });
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// IBAN

/** IBAN lengths per country (ISO 13616 registry). */
const IBAN_LENGTH: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18,
  NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};

/** Country code and check digits at a word start; the BBAN is read by hand (length per country). */
const IBAN_START = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?= ?[A-Z0-9])/g;
const IBAN_CHAR = /[A-Z0-9]/;
const ALNUM = /[A-Za-z0-9]/;

function mod97(iban: string): number {
  const s = iban.slice(4) + iban.slice(0, 4);
  let r = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) r = (r * 10 + (c - 48)) % 97;
    else r = (r * 100 + (c - 55)) % 97; // A=10 … Z=35
  }
  return r;
}

export function detectIban(text: string): Finding[] {
  if (!HAS_DIGIT.test(text)) return [];
  const out: Finding[] = [];
  const re = reset(IBAN_START);
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const start = m.index;
    const want = IBAN_LENGTH[m[0].slice(0, 2)];
    if (want === undefined) continue;
    let compact = m[0];
    let pos = start + 4;
    while (compact.length < want && pos < text.length) {
      const ch = text[pos]!;
      if (IBAN_CHAR.test(ch)) {
        compact += ch;
        pos++;
      } else if (ch === " " && compact.length % 4 === 0 && pos + 1 < text.length && IBAN_CHAR.test(text[pos + 1]!)) {
        pos++; // a space between groups of four
      } else break;
    }
    if (compact.length !== want) continue;
    if (pos < text.length && ALNUM.test(text[pos]!)) continue; // longer than the country's IBAN
    if (mod97(compact) !== 1) continue;
    out.push({ type: "iban", start, end: pos, score: 1, rule: "mod97" });
    re.lastIndex = pos;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// US Social Security numbers

const SSN_DASHED = /(?<![\p{L}\p{N}_./-])(\d{3})-(\d{2})-(\d{4})(?![\p{N}]|-\d)/gu;
const SSN_CONTEXT = /\b(?:ssn|ss#|ss no\.?|social[ -]security(?:[ -](?:number|no\.?|#|nr))?|soc\.? ?sec\.?)(?![a-z])/gi;
const SSN_NEAR = /(?<![\p{N}-])(\d{3})[ -]?(\d{2})[ -]?(\d{4})(?![\p{N}]|-\d)/gu;

function ssnValid(area: string, group: string, serial: string): boolean {
  return area !== "000" && area !== "666" && area[0] !== "9" && group !== "00" && serial !== "0000";
}

export function detectSsn(text: string): Finding[] {
  if (!HAS_DIGIT.test(text)) return [];
  const out: Finding[] = [];
  const seen = new Set<number>();
  // Context first ("SSN: 123456789"), so the dashed form right after a context word scores higher.
  if (/ss|social|soc/i.test(text)) {
    for (const c of text.matchAll(reset(SSN_CONTEXT))) {
      const from = c.index + c[0].length;
      const window = text.slice(from, from + 48);
      const d = reset(SSN_NEAR).exec(window);
      if (!d || d.index > 30 || !ssnValid(d[1]!, d[2]!, d[3]!)) continue;
      const start = from + d.index;
      if (seen.has(start)) continue;
      seen.add(start);
      out.push({ type: "ssn", start, end: start + d[0].length, score: 0.95, rule: "context:ssn" });
    }
  }
  if (text.includes("-")) {
    for (const m of text.matchAll(reset(SSN_DASHED))) {
      if (seen.has(m.index) || !ssnValid(m[1]!, m[2]!, m[3]!)) continue;
      seen.add(m.index);
      out.push({ type: "ssn", start: m.index, end: m.index + m[0].length, score: 0.85, rule: "ssn_format" });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

// ---------------------------------------------------------------------------------------------
// IP addresses

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
/** Dotted quads, not inside a version string (v1.2.3.4, 1.2.3.4.5) or a longer token. */
const IPV4 = new RegExp(`(?<![\\p{L}\\p{N}_.\\-])${OCTET}(?:\\.${OCTET}){3}(?![\\p{L}\\p{N}_]|\\.\\d|-\\d)`, "gu");
/** Hex, colons and dots holding at least one colon; validated by node:net afterwards. */
const IPV6 = /(?<![\p{L}\p{N}_:.])[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*/gu;
const VERSION_BEFORE = /\b(?:version|ver\.?|release|build|firmware|fw|v)\s*$/i;
const WORDISH = /[\p{L}\p{N}_]/u;

export function detectIp(text: string): Finding[] {
  const out: Finding[] = [];
  if (text.includes(".") && HAS_DIGIT.test(text)) {
    for (const m of text.matchAll(reset(IPV4))) {
      const v = m[0];
      if (isIP(v) !== 4) continue;
      const first = Number(v.slice(0, v.indexOf(".")));
      if (first === 0 || first === 255) continue; // unspecified / netmask, not a host
      if (VERSION_BEFORE.test(before(text, m.index, 16))) continue;
      out.push({ type: "ip", start: m.index, end: m.index + v.length, score: 0.9, rule: "ipv4" });
    }
  }
  if (text.includes(":")) {
    for (const m of text.matchAll(reset(IPV6))) {
      let v = m[0];
      while (v.endsWith(".")) v = v.slice(0, -1);
      if (v.length < 3 || v.length > 45) continue;
      const next = text[m.index + v.length];
      if (next !== undefined && (next === ":" || WORDISH.test(next))) continue;
      if (isIP(v) !== 6) continue;
      const groups = v.split(/:+/).filter((g) => g.length > 0);
      // "a::b" (C++ scopes, ratios): demand some substance
      if (groups.length < 2 || (groups.length < 3 && !groups.some((g) => g.length >= 3))) continue;
      out.push({ type: "ip", start: m.index, end: m.index + v.length, score: 0.9, rule: "ipv6" });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

// ---------------------------------------------------------------------------------------------
// Dates of birth

const DOB_CONTEXT =
  /(?:\b(?:born(?:\s+(?:on|in))?|date\s+of\s+birth|d\.?o\.?b\.?|birth\s*day|birth\s*date|geburtsdatum|geburtstag|geboren(?:\s+am)?|fecha\s+de\s+nacimiento|nacid[oa]\s+el|data\s+de\s+nascimento|date\s+de\s+naissance)|\bn[ée]e?\s+le)(?![a-z])/gi;
const MONTH =
  "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?" +
  "|janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|d[ée]cembre" +
  "|januar|februar|m[äa]e?rz|juni|juli|oktober|dezember" +
  "|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre";
const DAY = "(?:0?[1-9]|[12]\\d|3[01])";
const MON_NUM = "(?:0?[1-9]|1[0-2])";
const YEAR4 = "(?:1[89]\\d\\d|20\\d\\d)";
/** Dates as people write them; not inside a longer word or number. */
const DATE_FORMS = [
  `${YEAR4}[-/.]${MON_NUM}[-/.]${DAY}`, // 1990-04-12
  `${DAY}[-/.]${DAY}[-/.](?:${YEAR4}|\\d\\d)`, // 12/04/1990, 04.12.1990, 12-04-90
  `(?:${MONTH})\\.?\\s+${DAY}(?:st|nd|rd|th)?,?\\s+${YEAR4}`, // April 12, 1990
  `${DAY}(?:st|nd|rd|th|\\.)?\\s+(?:of\\s+|de\\s+)?(?:${MONTH})\\.?,?\\s+(?:de\\s+)?${YEAR4}`, // 12 April 1990, 12. April 1990, 12 de abril de 1990
];
const DATE = new RegExp(`(?<![\\p{L}\\p{N}])(?:${DATE_FORMS.map((f) => `(?:${f})`).join("|")})(?![\\p{L}\\p{N}])`, "giu");

export function detectDob(text: string): Finding[] {
  if (!HAS_DIGIT.test(text)) return [];
  const out: Finding[] = [];
  let last = -1;
  for (const c of text.matchAll(reset(DOB_CONTEXT))) {
    const from = c.index + c[0].length;
    const window = text.slice(from, from + 80);
    const d = reset(DATE).exec(window);
    if (!d || d.index > 40) continue;
    const dm = /^(\d{1,2})[-/.](\d{1,2})[-/.]/.exec(d[0]);
    if (dm && Number(dm[1]) > 12 && Number(dm[2]) > 12) continue; // 13/13/1990: no month either way
    const s = from + d.index;
    if (s <= last) continue; // "date of birth (DOB): …": two cues, one date
    out.push({ type: "dob", start: s, end: s + d[0].length, score: 0.9, rule: "context:dob" });
    last = s;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Postal addresses

const STREET_SUFFIXES = [
  "Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Dr", "Court", "Ct",
  "Way", "Place", "Pl", "Terrace", "Ter", "Circle", "Cir", "Parkway", "Pkwy", "Highway", "Hwy", "Square", "Sq",
  "Trail", "Trl", "Crescent", "Cres", "Close", "Grove", "Gardens", "Mews", "Row", "Walk", "Hill", "Alley",
  "Plaza", "Loop", "Pike", "Expressway", "Expy", "Freeway", "Fwy",
];
const SUFFIX_ALT = STREET_SUFFIXES.sort((a, b) => b.length - a.length)
  .map((s) => `[${s[0]}${s[0]!.toLowerCase()}]${s.slice(1)}`)
  .join("|");
const US_STATES =
  "AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC|PR";
const UK_POSTCODE = "(?:[A-Z]{1,2}\\d[A-Z\\d]?|GIR) ?\\d[A-Z]{2}";
const NAME_WORD = "[A-Z][A-Za-z'’-]*";
const CITY = `${NAME_WORD}(?:[ \\t]+${NAME_WORD}){0,2}`;

/**
 * "123 Main Street", "221B Baker St", "1600 N Pennsylvania Ave NW", optionally a unit, then a city
 * with a state and ZIP (US), a city and/or postcode (UK), or a city alone. Groups: 1 city+state,
 * 2 state, 3 zip, 4 city (UK), 5 postcode (UK), 6 postcode alone, 7 city alone.
 */
const STREET_ADDRESS = new RegExp(
  `(?<![\\p{L}\\p{N}_.,/-])\\d{1,6}[A-Za-z]?(?:-\\d{1,6})?[ \\t]+` +
    `(?:(?:[NSEW]|N[EW]|S[EW]|North|South|East|West)\\.?[ \\t]+)?` +
    `(?!(?:The|A|An|My|Our|Your|His|Her|Their|This|That|In|On|At|By|For|To|Of|And|Or)\\b)` +
    `(?:\\d{1,3}(?:st|nd|rd|th)|${NAME_WORD})(?:[ \\t]+(?:${NAME_WORD}|of|the|de|la)){0,3}[ \\t]+` +
    `(?:${SUFFIX_ALT})\\b\\.?(?:[ \\t]+(?:N[EW]|S[EW]|[NSEW])\\b\\.?)?` +
    `(?:,?[ \\t]+(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|#)\\.?[ \\t]*#?[A-Za-z0-9-]{1,6}\\b)?` +
    `(?:` +
    `,?[ \\t]+(${CITY}),?[ \\t]+(${US_STATES})\\b(?:[ \\t]+(\\d{5}(?:-\\d{4})?)(?!\\d))?` +
    `|,?[ \\t]+(?:(${CITY}),?[ \\t]+)?(${UK_POSTCODE})\\b` +
    `|,[ \\t]*(${UK_POSTCODE})\\b` +
    `|,[ \\t]*(${CITY})(?=[ \\t]*(?:[,.;:!?)\\n]|$))` +
    `)?`,
  "gu",
);

/** "Hauptstraße 5, 10115 Berlin", "Berliner Str. 12a", "Am Lindenweg 3": street, number, PLZ + town. */
const DE_ADDRESS = new RegExp(
  `(?<![\\p{L}\\p{N}])` +
    `(?:[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ]?[a-zäöüß]+)*(?:straße|strasse|str\\.|weg|platz|allee|gasse|damm|ufer|chaussee|steig|pfad)` +
    `|[A-ZÄÖÜ][a-zäöüß]+(?:er|sche|s)?[ \\t]+(?:Straße|Strasse|Str\\.|Weg|Platz|Allee|Gasse|Damm|Ufer|Chaussee))` +
    `[ \\t]*\\d{1,4}(?:[ \\t]?[a-zA-Z](?![\\p{L}]))?(?:-\\d{1,4})?(?![\\p{L}\\p{N}])` +
    `(?:,?[ \\t]+(\\d{5})[ \\t]+([A-ZÄÖÜ][a-zäöüß]+(?:[ -](?:am|an|der|im|[A-ZÄÖÜ][a-zäöüß]+)){0,3}))?`,
  "gu",
);

const ADDRESS_SCORE = [0, 0.6, 0.75, 0.85, 0.95];

export function detectAddress(text: string): Finding[] {
  if (!HAS_DIGIT.test(text)) return [];
  const out: Finding[] = [];
  for (const m of text.matchAll(reset(STREET_ADDRESS))) {
    let parts = 1;
    let rule = "address:street";
    if (m[2] !== undefined) {
      parts += 2 + (m[3] !== undefined ? 1 : 0); // city, state, zip
      rule = "address:us";
    } else if (m[5] !== undefined) {
      parts += 1 + (m[4] !== undefined ? 1 : 0); // postcode, city
      rule = "address:uk";
    } else if (m[6] !== undefined) {
      parts += 1;
      rule = "address:uk";
    } else if (m[7] !== undefined) {
      parts += 1;
    }
    out.push({ type: "address", start: m.index, end: m.index + m[0].length, score: ADDRESS_SCORE[Math.min(parts, 4)]!, rule });
  }
  if (/(?:str|weg|platz|allee|gasse|damm|ufer|chaussee|steig|pfad)/i.test(text)) {
    for (const m of text.matchAll(reset(DE_ADDRESS))) {
      const parts = m[1] !== undefined ? 3 : 1;
      out.push({ type: "address", start: m.index, end: m.index + m[0].length, score: ADDRESS_SCORE[parts]!, rule: "address:de" });
    }
  }
  return out.sort((a, b) => a.start - b.start);
}

// ---------------------------------------------------------------------------------------------
// Person names

/** A term of a compromise document after `compute("offset")`. */
interface NlpTerm {
  offset?: { start: number; length: number };
}

// What compromise's lexicon says about a lower-case word, as bit flags (built once).
const F_NAME = 1; // a first name, last name or person
const F_FIRST = 2; // a first name
const F_OTHER = 4; // known as something else too ("will", "hope", "bill", "main")
let lexFlagsLoaded: ReadonlyMap<string, number> | undefined;
const lexicon = (): ReadonlyMap<string, number> => (lexFlagsLoaded ??= loadLexFlags());
function loadLexFlags(): ReadonlyMap<string, number> {
  const flags = new Map<string, number>();
  try {
    const w = nlp().world() as { model?: { one?: { lexicon?: Record<string, string | string[]> } } };
    for (const [word, tag] of Object.entries(w.model?.one?.lexicon ?? {})) {
      let f = 0;
      for (const t of Array.isArray(tag) ? tag : [tag]) {
        if (t === "FirstName" || t === "MaleName" || t === "FemaleName") f |= F_NAME | F_FIRST;
        else if (t === "LastName" || t === "Person") f |= F_NAME;
        else f |= F_OTHER;
      }
      flags.set(word, f);
    }
  } catch {
    // without the lexicon, only the context rules find names
  }
  return flags;
}
function lexFlags(word: string): number {
  return lexicon().get(word.toLowerCase()) ?? 0;
}
function isNameWord(word: string): boolean {
  return (lexFlags(word) & F_NAME) !== 0;
}
function isFirstName(word: string): boolean {
  return (lexFlags(word) & F_FIRST) !== 0;
}
/** A word the lexicon knows, and not as a name ("Will", "Hope", "Bill", "Main"). */
function isCommonWord(word: string): boolean {
  const f = lexFlags(word);
  return f !== 0 && (f & F_NAME) === 0;
}
const HONORIFICS = new Set(["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "herr", "frau", "mme", "mlle"]);

/** A capitalised word (the unit of a name). */
const CAP_WORD = /(?<![\p{L}\p{N}_'’-])\p{Lu}[\p{Ll}'’-]*\p{Ll}/gu;
const NAME_PART = "\\p{Lu}[\\p{Ll}'’-]*\\p{Ll}";
/** "my name is Ada Lovelace" and friends: strong cues, one to three capitalised words. */
const NAME_STRONG_CONTEXT = new RegExp(
  `(?:\\b[Mm]y\\s+(?:full\\s+)?name\\s+is|\\b[Mm]y\\s+name's|\\b(?:[Ff]ull\\s+)?[Nn]ame\\s*:|\\b[Cc]all\\s+me|\\b[Ss]igned\\s*,?|\\b(?:[Kk]ind\\s+|[Bb]est\\s+)?[Rr]egards\\s*,|\\b[Ss]incerely\\s*,|\\b[Jj]e\\s+m'appelle|\\b[Ii]ch\\s+hei(?:ß|ss)e|\\b[Mm]e\\s+llamo|\\b[Mm]i\\s+nombre\\s+es)` +
    `[ \\t]*\\n?[ \\t]*(${NAME_PART}(?:[ \\t]+${NAME_PART}){0,2})`,
  "gu",
);
/** "I'm Ada Lovelace", "this is Ada Lovelace": weak cues, need a known first name and a surname. */
const NAME_WEAK_CONTEXT = new RegExp(`\\b(?:I\\s+am|I'm|I’m|[Tt]his\\s+is)[ \\t]+(${NAME_PART}(?:[ \\t]+${NAME_PART}){1,2})`, "gu");
/** "Mr. Darcy", "Dr Jane Foster". */
const NAME_TITLE = new RegExp(
  `(?<![\\p{L}\\p{N}])(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame|Herr|Frau|Mme|Mlle)\\.?[ \\t]+(${NAME_PART}(?:[ \\t]+${NAME_PART})?)`,
  "gu",
);
const SURNAME_AFTER = new RegExp(`^[ \\t]+(${NAME_PART})`, "u");

/**
 * Characters handed to compromise per call (it costs about 0.5 ms a call plus some µs a
 * character). Beyond the budget, names are found from its lexicon alone (rule "lexicon").
 */
export const PERSON_NLP_BUDGET = 3000;
/** Context kept around a candidate name for the tagger: a few words each side. */
const WINDOW_CHARS = 24;
const WINDOW_SNAP = 16;

function isSpaceCode(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0 || (c >= 0x2000 && c <= 0x200a) || c === 0x3000;
}
/** Moves `i` left to a word boundary, at most WINDOW_SNAP characters. */
function snapLeft(text: string, i: number): number {
  let k = Math.max(0, i);
  const min = Math.max(0, k - WINDOW_SNAP);
  while (k > min && !isSpaceCode(text.charCodeAt(k - 1))) k--;
  return k;
}
function snapRight(text: string, i: number): number {
  let k = Math.min(text.length, i);
  const max = Math.min(text.length, k + WINDOW_SNAP);
  while (k < max && !isSpaceCode(text.charCodeAt(k))) k++;
  return k;
}

const EDGE_PUNCT = /[\s.,;:!?"'’()[\]]/;
function trimSpan(text: string, s: number, e: number): [number, number] {
  let a = s;
  let b = e;
  while (a < b && EDGE_PUNCT.test(text[a]!)) a++;
  while (b > a && text[b - 1] !== "." && EDGE_PUNCT.test(text[b - 1]!)) b--;
  if (b - a > 2 && /['’]s$/.test(text.slice(b - 2, b))) b -= 2; // possessive
  // a trailing full stop ends the sentence, unless the last word is an initial ("John F.") or a title
  if (text[b - 1] === "." && !/(?:^|\s)(?:\p{Lu}|Mr|Mrs|Ms|Dr|Prof)\.$/u.test(text.slice(Math.max(a, b - 6), b))) b--;
  return [a, b];
}

/** Whether these words read as a person's name rather than capitalised common words. */
function plausibleName(words: string[]): boolean {
  const real = words.filter((w) => !HONORIFICS.has(w.toLowerCase().replace(/\.$/, "")));
  if (real.length === 0) return false;
  if (!real.every((w) => /^\p{Lu}/u.test(w))) return false;
  if (real.length === 1) return isNameWord(real[0]!); // "Grace" yes, "Will" / "Hope" no
  return !real.every((w) => isCommonWord(w)); // "Will Smith" yes, "Main Street" no
}

/** compromise's people() over the windows, in one call (identical windows are tagged once). */
function runNlp(text: string, windows: Array<[number, number]>, out: Finding[]): void {
  const unique = new Map<string, number>(); // window text -> offset in the joined text
  const pieces: string[] = [];
  const placed: Array<[joinedStart: number, origStart: number, origEnd: number]> = [];
  let len = 0;
  for (const [a, b] of windows) {
    const piece = text.slice(a, b).replace(/[\r\n]/g, " ");
    let at = unique.get(piece);
    if (at === undefined) {
      at = len;
      unique.set(piece, at);
      pieces.push(piece);
      len += piece.length + 2;
    }
    placed.push([at, a, b]);
  }
  // people() over the joined windows; offsets from the document's own pass (json() would also
  // parse each name and rebuild its text, which doubles the cost).
  let matches: NlpTerm[][];
  try {
    const doc = nlp()(pieces.join("\n\n"));
    const people = doc.people();
    doc.compute("offset");
    matches = people.docs as unknown as NlpTerm[][];
  } catch {
    return;
  }
  // by joined offset: which unique piece a match is in, and every window that has that text
  const byPiece = new Map<number, Array<[number, number]>>();
  for (const [at, a, b] of placed) {
    const list = byPiece.get(at);
    if (list) list.push([a, b]);
    else byPiece.set(at, [[a, b]]);
  }
  const pieceStarts = [...byPiece.keys()].sort((x, y) => x - y);
  for (const terms of matches) {
    const first = terms[0]?.offset;
    const last = terms[terms.length - 1]?.offset;
    if (!first || !last) continue;
    let lo = 0;
    let hi = pieceStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (pieceStarts[mid]! <= first.start) lo = mid;
      else hi = mid - 1;
    }
    const at = pieceStarts[lo]!;
    for (const [a, b] of byPiece.get(at) ?? []) {
      const [s, e] = trimSpan(text, first.start - at + a, last.start + last.length - at + a);
      if (e <= s || e > b) continue;
      const words = text.slice(s, e).split(/\s+/).filter(Boolean);
      if (!plausibleName(words)) continue;
      const real = words.filter((x) => !HONORIFICS.has(x.toLowerCase().replace(/\.$/, "")));
      out.push({ type: "person", start: s, end: e, score: real.length > 1 ? 0.75 : 0.6, rule: "nlp" });
    }
  }
}

export function detectPerson(text: string): Finding[] {
  if (!/\p{Lu}/u.test(text)) return [];
  const found: Finding[] = [];

  // 1. Context rules, everywhere.
  for (const m of text.matchAll(reset(NAME_STRONG_CONTEXT))) {
    const g = m[1]!;
    const s = m.index + m[0].length - g.length;
    // one to three words; stop at a common word after the first ("my name is Ada And …")
    const words = [...g.matchAll(/\S+/g)];
    let n = 1;
    while (n < words.length && !isCommonWord(words[n]![0])) n++;
    const lastWord = words[n - 1]!;
    found.push({ type: "person", start: s, end: s + lastWord.index + lastWord[0].length, score: 0.85, rule: "context:name" });
  }
  for (const m of text.matchAll(reset(NAME_WEAK_CONTEXT))) {
    const g = m[1]!;
    const words = g.split(/\s+/);
    if (!isFirstName(words[0]!) || words.slice(1).every((w) => isCommonWord(w))) continue;
    const s = m.index + m[0].length - g.length;
    found.push({ type: "person", start: s, end: s + g.length, score: 0.75, rule: "context:name" });
  }
  for (const m of text.matchAll(reset(NAME_TITLE))) {
    const g = m[1]!;
    let end = m.index + m[0].length;
    const second = /[ \t]+(\S+)$/.exec(g);
    if (second && isCommonWord(second[1]!)) end -= second[0].length; // "Mr. Brown Is …"
    found.push({ type: "person", start: m.index, end, score: 0.8, rule: "context:title" });
  }
  found.sort((x, y) => x.start - y.start);

  // 2. compromise on small windows around words its lexicon knows as names (or honorifics),
  //    except those a context rule has already found.
  const windows: Array<[number, number]> = [];
  const overflow: Array<[number, number]> = [];
  let budget = PERSON_NLP_BUDGET;
  let ctx = 0;
  for (const m of text.matchAll(reset(CAP_WORD))) {
    const w = m[0];
    if (!isNameWord(w) && !HONORIFICS.has(w.toLowerCase())) continue;
    const s = m.index;
    const e = s + w.length;
    while (ctx < found.length && found[ctx]!.end <= s) ctx++;
    if (ctx < found.length && found[ctx]!.start <= s) continue;
    const last = windows[windows.length - 1];
    if (last && s < last[1]) {
      // inside the previous window: widen it to keep some context after this word too
      const b = snapRight(text, e + WINDOW_CHARS);
      if (b > last[1] && b - last[1] <= budget) {
        budget -= b - last[1];
        last[1] = b;
      }
      continue;
    }
    const a = snapLeft(text, s - WINDOW_CHARS);
    const b = snapRight(text, e + WINDOW_CHARS);
    if (b - a > budget) {
      overflow.push([s, e]);
      continue;
    }
    budget -= b - a;
    windows.push([a, b]);
  }
  const out: Finding[] = found;
  if (windows.length > 0) runNlp(text, windows, out);

  // 3. Beyond the budget: a first name from the lexicon followed by a capitalised surname.
  for (const [s, e] of overflow) {
    if (!isFirstName(text.slice(s, e))) continue;
    const rest = SURNAME_AFTER.exec(text.slice(e, e + 40));
    if (!rest || isCommonWord(rest[1]!)) continue;
    out.push({ type: "person", start: s, end: e + rest[0].length, score: 0.65, rule: "lexicon" });
  }

  // One finding per overlapping group: the widest span, the best score.
  out.sort((x, y) => x.start - y.start || y.end - x.end);
  const merged: Finding[] = [];
  for (const f of out) {
    const prev = merged[merged.length - 1];
    if (prev && f.start < prev.end) {
      if (f.end > prev.end) prev.end = f.end;
      if (f.score > prev.score) {
        prev.score = f.score;
        prev.rule = f.rule;
      }
      continue;
    }
    merged.push({ ...f });
  }
  return merged;
}
