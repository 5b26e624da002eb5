import type { Strategy } from "./strategies.js";

/** A conditional route (models[].routes in the configuration). */
export interface RouteRule {
  when: {
    tenants?: string[] | undefined;
    metadata?: Record<string, string> | undefined;
    headers?: Record<string, string> | undefined;
    min_prompt_chars?: number | undefined;
    max_prompt_chars?: number | undefined;
  };
  /** Deployment ids, in priority order. */
  deployments: string[];
  strategy?: Strategy | undefined;
}

/** The request attributes rules match on. */
export interface CallAttributes {
  tenantId: string;
  /** The caller's x-… headers, lower-case names. */
  headers: Record<string, string>;
  metadata: Record<string, string>;
  promptChars: number;
}

function subset(want: Record<string, string> | undefined, have: Record<string, string>): boolean {
  if (!want) return true;
  for (const k in want) if (have[k] !== want[k]) return false;
  return true;
}

/** Does every condition of the rule hold for this call? */
export function ruleMatches(rule: RouteRule, a: CallAttributes): boolean {
  const w = rule.when;
  if (w.tenants && !w.tenants.includes(a.tenantId)) return false;
  if (w.min_prompt_chars !== undefined && a.promptChars < w.min_prompt_chars) return false;
  if (w.max_prompt_chars !== undefined && a.promptChars > w.max_prompt_chars) return false;
  return subset(w.metadata, a.metadata) && subset(w.headers, a.headers);
}

/** The first rule that matches, if any. */
export function matchRule(rules: readonly RouteRule[], a: CallAttributes): RouteRule | undefined {
  for (const r of rules) if (ruleMatches(r, a)) return r;
  return undefined;
}
