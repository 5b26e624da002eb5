/**
 * An external analyzer speaking Microsoft Presidio's REST API (presidio-analyzer):
 *
 *   POST {url}/analyze  {"text", "language", "entities"?, "score_threshold"?}
 *   200 → [{"entity_type", "start", "end", "score", "analysis_explanation"?, "recognition_metadata"?}, …]
 *
 * (request and response as in Presidio's OpenAPI, docs/api-docs/api-docs.yml: AnalyzeRequest and
 * RecognizerResultWithAnalysis). Presidio is Python, so `start`/`end` count code points; they are
 * converted to the UTF-16 offsets our findings use.
 *
 * Entity types are mapped to ours; types we have no name for are dropped. DATE_TIME is not mapped
 * to `dob` by default: Presidio reports every date and time ("tomorrow", "3pm", "May 2024") as
 * DATE_TIME, so mapping it would mask meeting times and deadlines as birth dates; set
 * `dateTimeAsDob` to opt in. CRYPTO (a wallet address) maps to `secret` so it is masked with the
 * other credentials.
 *
 * Failures throw an Error saying what to check; the message never contains the text analysed (nor
 * the analyzer's answer, which may echo it, nor credentials in the URL).
 */
import type { EntityType, Finding } from "./types.js";

export interface PresidioOptions {
  /** Base URL of presidio-analyzer, e.g. http://presidio-analyzer:3000 (…/analyze is appended). */
  url: string;
  /** Two-letter language code the analyzer's NLP engine supports (default "en"). */
  language?: string;
  /** Presidio entity types to ask for (default: every type the analyzer knows; unknown ones are dropped here). */
  entities?: string[];
  /** Sent as score_threshold; results below it are also dropped here. */
  scoreThreshold?: number;
  /** Time for the whole call, answer included (default 2000 ms). */
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
  /** Report DATE_TIME as `dob` (off by default, see above). */
  dateTimeAsDob?: boolean;
}

/** Presidio entity type → ours. Built-in recognizers first; the AWS/API_KEY/PASSWORD names are common custom recognizers. */
export const PRESIDIO_ENTITY_MAP: Readonly<Record<string, EntityType>> = {
  EMAIL_ADDRESS: "email",
  PHONE_NUMBER: "phone",
  CREDIT_CARD: "card",
  IBAN_CODE: "iban",
  US_SSN: "ssn",
  IP_ADDRESS: "ip",
  PERSON: "person",
  LOCATION: "address",
  CRYPTO: "secret",
  AWS_ACCESS_KEY: "secret",
  AWS_ACCESS_KEY_ID: "secret",
  AWS_SECRET_KEY: "secret",
  AWS_SECRET_ACCESS_KEY: "secret",
  API_KEY: "secret",
  PASSWORD: "secret",
};

const DEFAULT_TIMEOUT_MS = 2000;

/** The URL for messages: no credentials, no query. */
function printable(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Code-point index → UTF-16 index, or undefined when the text has no astral characters (identity). */
function codePointOffsets(text: string): Uint32Array | undefined {
  if (!/[\uD800-\uDFFF]/.test(text)) return undefined;
  const map: number[] = [];
  let i = 0;
  while (i < text.length) {
    map.push(i);
    const c = text.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
  }
  map.push(text.length);
  return Uint32Array.from(map);
}

/** Build the analyzer call; throws at once on a bad URL or timeout. */
export function createPresidioAnalyzer(opts: PresidioOptions): (text: string) => Promise<Finding[]> {
  let base: URL;
  try {
    base = new URL(opts.url);
  } catch {
    throw new Error("Presidio analyzer: analyzer.url is not a valid URL");
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error(`Presidio analyzer: analyzer.url must be http(s), not ${base.protocol}`);
  const endpoint = new URL(base.href);
  endpoint.pathname = `${endpoint.pathname.replace(/\/+$/, "")}/analyze`;
  endpoint.search = "";
  endpoint.hash = "";
  const where = printable(endpoint);
  const language = opts.language ?? "en";
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error("Presidio analyzer: timeoutMs must be a positive number");
  const threshold = opts.scoreThreshold;
  const entities = opts.entities && opts.entities.length > 0 ? [...opts.entities] : undefined;
  const doFetch = opts.fetchImpl ?? fetch;
  const map: Record<string, EntityType> = { ...PRESIDIO_ENTITY_MAP, ...(opts.dateTimeAsDob ? { DATE_TIME: "dob" as const } : {}) };

  return async (text: string): Promise<Finding[]> => {
    if (typeof text !== "string" || text.length === 0) return [];
    const body: Record<string, unknown> = { text, language };
    if (entities) body["entities"] = entities;
    if (threshold !== undefined) body["score_threshold"] = threshold;

    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, timeoutMs);
    const timeoutError = () =>
      new Error(`Presidio analyzer at ${where} did not answer within ${timeoutMs} ms: check that it is running and reachable from the gateway, or raise analyzer.timeout_ms`);
    let raw: string;
    try {
      let res: Response;
      try {
        res = await doFetch(endpoint.href, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify(body),
          signal: ac.signal,
        });
      } catch (e) {
        if (timedOut) throw timeoutError();
        const code = (e as { cause?: { code?: unknown } }).cause?.code;
        throw new Error(`could not reach the Presidio analyzer at ${where}${typeof code === "string" ? ` (${code})` : ""}: check analyzer.url and that presidio-analyzer is up`);
      }
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        const hint =
          res.status === 400 || res.status === 422
            ? `; check that language "${language}"${entities ? " and the configured entities" : ""} are supported by the analyzer`
            : res.status === 404
              ? "; check that analyzer.url is the base URL of presidio-analyzer (…/analyze is appended)"
              : "; check the analyzer's logs";
        throw new Error(`Presidio analyzer at ${where} answered HTTP ${res.status}${hint}`);
      }
      try {
        raw = await res.text();
      } catch {
        if (timedOut) throw timeoutError();
        throw new Error(`Presidio analyzer at ${where} broke off its answer: check the analyzer's logs`);
      }
    } finally {
      clearTimeout(timer);
    }

    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new Error(`Presidio analyzer at ${where} answered with something that is not JSON: check that analyzer.url points at presidio-analyzer (not the anonymizer or a proxy)`);
    }
    if (!Array.isArray(parsed))
      throw new Error(`Presidio analyzer at ${where} answered JSON that is not a list of results: check that analyzer.url points at presidio-analyzer's /analyze`);

    const offsets = codePointOffsets(text);
    const length = offsets ? offsets.length - 1 : text.length;
    const out: Finding[] = [];
    parsed.forEach((r: unknown, i) => {
      const o = r as { entity_type?: unknown; start?: unknown; end?: unknown; score?: unknown } | null;
      if (
        !o ||
        typeof o !== "object" ||
        typeof o.entity_type !== "string" ||
        !Number.isInteger(o.start) ||
        !Number.isInteger(o.end) ||
        typeof o.score !== "number" ||
        !Number.isFinite(o.score)
      )
        throw new Error(`Presidio analyzer at ${where} answered result #${i} without a valid entity_type, start, end and score: check the analyzer's version`);
      const start = o.start as number;
      const end = o.end as number;
      if (start < 0 || end <= start || end > length)
        throw new Error(`Presidio analyzer at ${where} answered result #${i} with offsets outside the text: check that nothing between the gateway and the analyzer rewrites requests`);
      const type = Object.hasOwn(map, o.entity_type) ? map[o.entity_type] : undefined;
      if (!type) return;
      const score = Math.min(1, Math.max(0, o.score));
      if (threshold !== undefined && score < threshold) return;
      out.push({
        type,
        start: offsets ? offsets[start]! : start,
        end: offsets ? offsets[end]! : end,
        score,
        rule: `presidio:${o.entity_type}`,
      });
    });
    out.sort((a, b) => a.start - b.start || b.end - a.end);
    return out;
  };
}
