/**
 * The vocabulary of Tessera's guardrails: what a detector finds, and the shape every detector
 * has. Detectors are pure functions over a string, compiled once at module load; they never
 * keep or log the values they find.
 */

/** Entity types, as they appear in policies, placeholders (`<EMAIL_1>`) and event counts. */
export const ENTITY_TYPES = ["email", "phone", "card", "iban", "ssn", "ip", "dob", "address", "person", "secret", "denied"] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

/** The structured entities: exact formats with checksums or strict shapes. */
export const STRUCTURED: readonly EntityType[] = ["email", "phone", "card", "iban", "ssn", "ip", "secret"];

/** One thing found in a text: a half-open UTF-16 range [start, end) of the text scanned. */
export interface Finding {
  type: EntityType;
  start: number;
  end: number;
  /** Confidence 0..1 (1 for checksum-validated formats). */
  score: number;
  /** The rule that matched, e.g. "aws_access_key_id", "luhn", "context:dob" (never the value). */
  rule: string;
}

/** A detector: every finding of its type(s) in `text`. Must be safe on any string (huge, invalid UTF-16, control characters). */
export type Detector = (text: string) => Finding[];

/** Where a text comes from, for the injection scorer (tool results and documents are indirect). */
export type TextSource = "user" | "system" | "assistant" | "tool" | "document";

/** A prompt-injection verdict: a score 0..1 and the signals that raised it (names only). */
export interface InjectionScore {
  score: number;
  signals: string[];
}
