import type { EntityType } from "../../libs/guardrails/src/types.js";

/** One labelled line of pii.jsonl or secrets.jsonl: entities by value (an exact substring of text). */
export interface PiiCase {
  id: string;
  text: string;
  entities: { type: EntityType; value: string }[];
  lang: string;
  note: string;
}

/** One line of injection.jsonl / injection-heldout.jsonl. */
export interface InjectionCase {
  id: string;
  text: string;
  source: "user" | "tool" | "document";
  injection: boolean;
  lang: string;
  note: string;
}
