import { createHash, createHmac, randomBytes } from "node:crypto";
import type { RedactionPolicyConfig } from "@tessera/runtime";
import { ENTITY_TYPES, type Detector, type EntityType, type Finding, type InjectionScore } from "./types.js";
import { createScanner } from "./scan.js";
import { detectSecrets } from "./secrets.js";
import { compileDenyList } from "./moderation.js";
import { createPresidioAnalyzer } from "./presidio.js";

/** What a policy does with an entity type. */
export type Action = "mask" | "hash" | "tokenize" | "block" | "flag" | "off";

/**
 * The default policy's actions: the structured, checksum-validated types are masked; the
 * types that are hard to tell from ordinary text (names, addresses, birth dates, IPs) are off
 * unless a policy turns them on; words on a deny list block.
 */
export const DEFAULT_ACTIONS: Readonly<Record<EntityType, Action>> = {
  email: "mask",
  phone: "mask",
  card: "mask",
  iban: "mask",
  ssn: "mask",
  secret: "mask",
  ip: "off",
  dob: "off",
  address: "off",
  person: "off",
  denied: "block",
};

/** A policy compiled once: its scanner (patterns compiled, detectors chosen) and its actions. */
export interface CompiledPolicy {
  name: string;
  actions: ReadonlyMap<EntityType, Exclude<Action, "off">>;
  minScore: number;
  responses: boolean;
  injection: { threshold: number; action: "block" | "flag" | "off"; toolResults: boolean };
  /** Findings of every enabled type, scanned once, overlaps resolved. */
  scan(text: string): Finding[];
  /** The external analyzer, when configured. */
  analyze?: ((text: string) => Promise<Finding[]>) | undefined;
  /** Keyed hash of a value for the `hash` action (12 hex characters). */
  hash(type: EntityType, value: string): string;
  /** What scanning a text found before, by a digest of the text (see {@link TextMemo}). */
  memo: TextMemo;
}

/** A remembered scan: findings (offsets, types, rules — never values) and the injection score. */
export interface Scanned {
  findings: Finding[];
  injection?: InjectionScore | undefined;
}

/**
 * Scans remembered by a SHA-256 digest of the text and its source. Chat calls resend their
 * whole history every turn, so most texts of a call were scanned on an earlier turn; only
 * texts of 256 characters or more are kept (shorter ones cost less to scan than to digest),
 * at most `max` of them (cleared when full). Holds no text and no value.
 */
export class TextMemo {
  private readonly entries = new Map<string, Scanned>();
  constructor(private readonly max = 20_000) {}

  static readonly MIN_CHARS = 256;

  key(text: string, source: string): string | undefined {
    return text.length < TextMemo.MIN_CHARS ? undefined : `${source}:${createHash("sha256").update(text).digest("base64")}`;
  }

  get(key: string | undefined): Scanned | undefined {
    return key === undefined ? undefined : this.entries.get(key);
  }

  set(key: string | undefined, v: Scanned): void {
    if (key === undefined) return;
    if (this.entries.size >= this.max) this.entries.clear();
    this.entries.set(key, v);
  }
}

/** Compile one configured policy. `hashKey` keys the `hash` action. */
export function compilePolicy(name: string, cfg: RedactionPolicyConfig | undefined, hashKey: Buffer): CompiledPolicy {
  const actions = new Map<EntityType, Exclude<Action, "off">>();
  const configured: Partial<Record<EntityType, Action>> = { ...(cfg?.mask ? Object.fromEntries(cfg.mask.map((t) => [t, "mask"])) : {}), ...cfg?.entities };
  for (const t of ENTITY_TYPES) {
    // A file that still says `mask: [email]` means exactly that list; otherwise the defaults fill in.
    const a = configured[t] ?? (cfg?.mask && !cfg.entities?.[t] ? "off" : DEFAULT_ACTIONS[t]);
    if (a !== "off") actions.set(t, a);
  }
  const extra: Detector[] = [];
  if (actions.has("secret")) extra.push(detectSecrets);
  if (cfg?.deny) {
    const deny = compileDenyList(cfg.deny);
    extra.push(deny);
    if (cfg.deny.action === "flag" || cfg.deny.action === "mask") actions.set("denied", cfg.deny.action);
    else actions.set("denied", "block");
  } else actions.delete("denied");
  const scanner = createScanner(
    [...actions.keys()].filter((t) => t !== "secret" && t !== "denied"),
    extra,
  );
  const a = cfg?.analyzer;
  return {
    name,
    actions,
    minScore: cfg?.min_score ?? 0.5,
    responses: cfg?.responses ?? true,
    injection: { threshold: cfg?.injection.threshold ?? 0.5, action: cfg?.injection.action ?? "flag", toolResults: cfg?.injection.tool_results ?? true },
    scan: (text) => scanner.scan(text),
    analyze: a ? createPresidioAnalyzer({ url: a.url, language: a.language, scoreThreshold: a.score_threshold, timeoutMs: a.timeout_ms }) : undefined,
    hash: (type, value) => createHmac("sha256", hashKey).update(`${type}\u0000${value}`).digest("hex").slice(0, 12),
    memo: new TextMemo(),
  };
}

/** Every configured policy, compiled once, and how a call's policy is chosen. */
export interface PolicySet {
  /** The policy for a call: the key's own (unless "default"), else the tenant's, else "default". */
  forCall(keyPolicy: string, tenantId: string): CompiledPolicy;
  byName(name: string): CompiledPolicy | undefined;
  /** Whether any policy tokenises (the vault is then needed). */
  tokenizes: boolean;
}

export function compilePolicies(cfg: { policies: Record<string, RedactionPolicyConfig>; tenants: Record<string, string> }, hashKey?: Buffer): PolicySet {
  const key = hashKey ?? randomBytes(32);
  const all = new Map<string, CompiledPolicy>();
  for (const [name, p] of Object.entries(cfg.policies)) all.set(name, compilePolicy(name, p, key));
  if (!all.has("default")) all.set("default", compilePolicy("default", undefined, key));
  const dflt = all.get("default")!;
  return {
    forCall(keyPolicy, tenantId) {
      if (keyPolicy && keyPolicy !== "default") {
        const p = all.get(keyPolicy);
        if (p) return p;
      }
      const t = cfg.tenants[tenantId];
      return (t && all.get(t)) || dflt;
    },
    byName: (name) => all.get(name),
    tokenizes: [...all.values()].some((p) => [...p.actions.values()].includes("tokenize")),
  };
}
