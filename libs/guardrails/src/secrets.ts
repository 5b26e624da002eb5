/**
 * Secret detection: API keys, tokens, private keys and passwords in connection strings.
 *
 * The rule table below takes its prefixes and lengths from public rule sets: gitleaks' default
 * config (`config/gitleaks.toml`), GitHub secret scanning's partner patterns, TruffleHog's
 * detectors, and the vendors' own token-format notes. Every regex is compiled once at module
 * load; a rule runs only when one of its cheap keywords occurs in the text. Findings carry the
 * rule id, never the value.
 *
 * False positives are kept down by: exact prefixes and lengths, an entropy floor per rule,
 * checks that decode what can be decoded (a JWT's header must be JSON with "alg"), dropping
 * placeholders ("xxxx", "your-api-key", "<API_KEY>", "changeme", `${VAR}`), and ignoring
 * everything inside base64 `data:` URIs (images). AWS's documented sample keys (ending in
 * EXAMPLE / EXAMPLEKEY) are still reported, but at 0.4, below the default policy's min_score.
 */
import type { Detector, Finding } from "./types.js";

/** One rule of the table. */
interface SecretRule {
  /** The rule id reported in findings (snake_case). */
  id: string;
  /** What it finds and where the shape comes from (for docs). */
  description: string;
  source: string;
  /** Substrings (lower-case) of which at least one must occur for the rule to run. */
  keywords: readonly string[];
  /** Check `keywords` against the text as is (case-sensitive) instead of its lower-cased copy. */
  caseSensitiveKeywords?: boolean;
  /** Global regex with the `d` flag; the secret is the named group `s`, else the whole match. */
  re?: RegExp;
  /** Instead of `re`: a finder returning [start, end) spans (for shapes a single regex scans slowly). */
  find?: (text: string) => [number, number][];
  /** Confidence when the rule matches. */
  score: number;
  /** Minimum Shannon entropy (bits/char) of the secret. */
  minEntropy?: number;
  /** Extra check on the secret: false drops it, a number replaces the score. */
  check?: (secret: string, at: { index: number; length: number }, text: string) => boolean | number;
}

/** Shannon entropy of a string in bits per character (over UTF-16 code units). */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

const PLACEHOLDER_WORDS =
  /^(?:x+|\*+|\.+|-+|_+|0+|1234.*|abc(?:d(?:e(?:f)?)?)?123.*|pass(?:word)?\d*|passwd|pwd|secret|changeme|change[_-]?it|changeit|change[_-]?me|password123|admin|root|test|testing|example|sample|dummy|fake|null|none|undefined|true|false|redacted|hidden|placeholder|todo|tbd|foo|bar|foobar|token|apikey|api[_-]?key|my[_-]?(?:secret|password|token|api[_-]?key|key)|your[_-].*|insert[_-].*|enter[_-].*|replace[_-].*|put[_-].*|<[^>]*>|\[[^\]]*\]|\{[^}]*\}|\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_][A-Za-z0-9_]*|%[A-Za-z_]+%|%s|\{\{.*\}\})$/i;

/** True for values that are clearly not a real secret: templates, masks, sample words. */
export function isPlaceholder(value: string): boolean {
  const v = value.trim().replace(/^["'`]|["'`]$/g, "");
  if (v.length === 0) return true;
  if (PLACEHOLDER_WORDS.test(v)) return true;
  const l = v.toLowerCase();
  if (/(?:^|[^a-z])(?:your|my|insert|enter|replace|fill)[-_ ]?(?:api|secret|token|key|password|pass)/.test(l)) return true;
  if (/x{4,}|\*{4,}|\.{3,}|#{4,}|<[a-z_ -]+>|\$\{|\{\{|%\(|process\.env|os\.environ|getenv/.test(l)) return true;
  if (/(?:example|placeholder|changeme|redacted|dummy|sample|fake|secret_here|key_here|token_here|goes_here)/.test(l) && shannonEntropy(v) < 4) return true;
  // One character repeated, or a short run repeated ("abababab…").
  if (/^(.{1,3})\1+$/.test(v)) return true;
  return false;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function b64urlDecode(s: string): string | undefined {
  try {
    return Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8");
  } catch {
    return undefined;
  }
}

/** A JWT's header must decode to a JSON object with a string "alg". */
function jwtHeaderOk(token: string): boolean {
  const dot = token.indexOf(".");
  if (dot <= 0) return false;
  const json = b64urlDecode(token.slice(0, dot));
  if (!json) return false;
  try {
    const h: unknown = JSON.parse(json);
    return typeof h === "object" && h !== null && typeof (h as { alg?: unknown }).alg === "string";
  } catch {
    return false;
  }
}

/** AWS's documented sample credentials end with EXAMPLE / EXAMPLEKEY: report them below the default min_score. */
const awsSample = (s: string): number | boolean => (/EXAMPLE(?:KEY)?$/.test(s) ? 0.4 : true);

/** Key names around the generic rule that are not secrets (from gitleaks' generic-api-key allowlist, abridged). */
const GENERIC_KEY_ALLOW =
  /(?:public|csrf|xsrf|bucket|foreign|primary|sort|partition|idempotency|cache|next|page|continuation|pagination|cursor)[_.-]?(?:key|token)|(?:key|token|secret|password)[_.-]?(?:url|uri|endpoint|name|type|length|size|id|file|path|field|prefix|format|count|limit|expir\w*|ttl|version|header|param|hint|policy|rotation|label|ref)\b|max[_.-]?tokens?|tokens?[_.-]?(?:used|count|limit|usage|budget)|tokenizer|keyboard|keystore[_.-]?(?:file|path)|monkey|turkey|donkey|hockey|jockey/i;

/**
 * The generic rule: a key word, up to 30 more identifier characters, an assignment, a value.
 * The identifier part before the key word is read by hand (no unbounded lookbehind).
 */
const GENERIC_RE =
  /(?:api[_.-]?key|apikey|secret|token|passwd|password|pwd|access[_.-]?key|auth[_.-]?key|private[_.-]?key|credentials?)[A-Za-z0-9_.-]{0,30}?["'`]?[ \t]*(?::=|=>|=|:)[ \t]*(?<q>["'`]?)(?=(?<s>[A-Za-z0-9+/=_\-.~!@#$%^&*?|]{16,200}))\k<s>(?![A-Za-z0-9+/=_\-.~!@#$%^&*?|])/dgi;

/** The identifier that a generic match's key word belongs to (up to 40 characters back). */
function keyBefore(text: string, at: number): string {
  let i = at;
  while (i > 0 && at - i < 40 && /[A-Za-z0-9_.-]/.test(text[i - 1]!)) i--;
  return text.slice(i, at);
}

const PK_BEGIN = /-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----/g;
const PK_END = /-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----/g;
/** A truncated block: optional PEM headers (Proc-Type: …) then at least two base64 lines. */
const PK_BODY = /(?:[ \t]*\r?\n(?:[A-Za-z0-9-]+:[^\n]{0,200}\r?\n){0,4})(?:[ \t]*[A-Za-z0-9+/=]{40,100}[ \t]*(?:\r?\n|$)){2,2000}/y;
const PK_MAX_BODY = 32_768;

/** Private key blocks, BEGIN to END; a block cut short (no END) runs to its last base64 line. */
function findPrivateKeys(text: string): [number, number][] {
  const ends: [number, number][] = [];
  PK_END.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = PK_END.exec(text)) !== null) ends.push([m.index, m.index + m[0].length]);
  const out: [number, number][] = [];
  PK_BEGIN.lastIndex = 0;
  while ((m = PK_BEGIN.exec(text)) !== null) {
    const start = m.index;
    const after = start + m[0].length;
    // First END at or after the header (binary search).
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ends[mid]![0] < after) lo = mid + 1;
      else hi = mid;
    }
    const end = ends[lo];
    if (end && end[0] - after >= 64 && end[0] - after <= PK_MAX_BODY && text.lastIndexOf("-----BEGIN", end[0]) === start) {
      out.push([start, end[1]]);
      PK_BEGIN.lastIndex = end[1];
      continue;
    }
    PK_BODY.lastIndex = after;
    const body = PK_BODY.exec(text);
    if (body) {
      let stop = after + body[0].length;
      while (stop > after && /\s/.test(text[stop - 1]!)) stop--;
      out.push([start, stop]);
      PK_BEGIN.lastIndex = stop;
    }
  }
  return out;
}

const URI_SCHEMES = "postgres(?:ql)?|mysql|mariadb|mongodb(?:\\+srv)?|rediss?|amqps?|mssql|sqlserver|jdbc:[a-z]+|ftps?|sftp|https?|ldaps?|smtps?";

/** The rule table. */
const RULES: readonly SecretRule[] = [
  {
    id: "aws_access_key_id",
    description: "AWS access key id (AKIA long-term, ASIA temporary, ABIA/ACCA, A3T…) + 16 base32 characters",
    source: "gitleaks aws-access-token; GitHub secret scanning (amazon_aws_access_key_id)",
    keywords: ["akia", "asia", "abia", "acca", "a3t"],
    re: /\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b/dg,
    score: 0.95,
    minEntropy: 3,
    check: awsSample,
  },
  {
    id: "aws_secret_access_key",
    description: "AWS secret access key: 40 base64 characters assigned to aws_secret / secret_access_key",
    source: "TruffleHog aws detector (40-char secret near an id or keyword); GitHub secret scanning (amazon_aws_secret_access_key)",
    keywords: ["secret"],
    re: /(?:aws[ _.-]?secret(?:[ _.-]?access)?(?:[ _.-]?key)?|secret[ _.-]?access[ _.-]?key)["'`]?[ \t]*(?::=|=>|=|:)[ \t]*["'`]?(?<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/dgi,
    score: 0.9,
    minEntropy: 3.5,
    check: awsSample,
  },
  {
    id: "github_pat",
    description: "GitHub personal access token (classic): ghp_ + 36",
    source: "gitleaks github-pat; GitHub token formats",
    keywords: ["ghp_"],
    re: /\bghp_[0-9A-Za-z]{36}\b/dg,
    score: 0.98,
    minEntropy: 3,
  },
  {
    id: "github_fine_grained_pat",
    description: "GitHub fine-grained personal access token: github_pat_ + 82 (22 _ 59)",
    source: "gitleaks github-fine-grained-pat",
    keywords: ["github_pat_"],
    re: /\bgithub_pat_\w{82}\b/dg,
    score: 0.98,
    minEntropy: 3,
  },
  {
    id: "github_oauth_token",
    description: "GitHub OAuth access token: gho_ + 36",
    source: "gitleaks github-oauth",
    keywords: ["gho_"],
    re: /\bgho_[0-9A-Za-z]{36}\b/dg,
    score: 0.98,
    minEntropy: 3,
  },
  {
    id: "github_app_token",
    description: "GitHub App user-to-server (ghu_) and installation (ghs_) tokens + 36",
    source: "gitleaks github-app-token",
    keywords: ["ghu_", "ghs_"],
    re: /\bgh[us]_[0-9A-Za-z]{36}\b/dg,
    score: 0.98,
    minEntropy: 3,
  },
  {
    id: "github_refresh_token",
    description: "GitHub refresh token: ghr_ + 36",
    source: "gitleaks github-refresh-token",
    keywords: ["ghr_"],
    re: /\bghr_[0-9A-Za-z]{36}\b/dg,
    score: 0.98,
    minEntropy: 3,
  },
  {
    id: "gitlab_token",
    description: "GitLab personal/project/group access token glpat- + 20 (or the routable form), and its runner, deploy, pipeline-trigger and CI job tokens",
    source: "gitleaks gitlab-pat, gitlab-pat-routable, gitlab-rrt, gitlab-runner-authentication-token, gitlab-deploy-token, gitlab-ptt, gitlab-cicd-job-token",
    keywords: ["glpat-", "glrt-", "gldt-", "glptt-", "glcbt-", "gr1348941"],
    re: /\b(?:glpat-[0-9A-Za-z_-]{20,300}(?:\.[0-9a-z]{9})?|glrt-[0-9A-Za-z_-]{20,300}(?:\.[0-9a-z]{9})?|gldt-[0-9A-Za-z_-]{20}|glptt-[0-9a-f]{40}|glcbt-[0-9A-Za-z]{1,5}_[0-9A-Za-z_-]{20}|GR1348941[\w-]{20})(?![0-9A-Za-z_-])/dg,
    score: 0.97,
    minEntropy: 3,
  },
  {
    id: "slack_token",
    description: "Slack bot (xoxb-), user (xoxp-/xoxe-), workspace (xoxa-/xoxr-), legacy (xoxo-/xoxs-) and app-level (xapp-) tokens",
    source: "gitleaks slack-bot-token, slack-legacy-bot-token, slack-user-token, slack-legacy-workspace-token, slack-legacy-token, slack-app-token",
    keywords: ["xox", "xapp-"],
    re: /\b(?:xoxb-[0-9]{10,13}-[0-9]{10,13}[A-Za-z0-9-]*|xoxb-[0-9]{8,14}-[A-Za-z0-9]{18,26}|xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9-]{28,34}|xox[ar]-(?:\d-)?[0-9A-Za-z]{8,48}|xox[os]-\d+-\d+-\d+-[a-fA-F\d]+|xapp-\d-[A-Za-z0-9]+-\d+-[a-z0-9]+)/dg,
    score: 0.97,
    minEntropy: 2,
  },
  {
    id: "slack_webhook_url",
    description: "Slack incoming webhook hooks.slack.com/services/T…/B…/… (and workflow/trigger URLs)",
    source: "gitleaks slack-webhook-url; GitHub secret scanning (slack_incoming_webhook_url)",
    keywords: ["hooks.slack.com"],
    re: /(?:https?:\/\/)?hooks\.slack\.com\/(?:services\/T[A-Z0-9]{8,12}\/B[A-Z0-9]{8,12}\/[A-Za-z0-9]{24}|(?:workflows|triggers)\/[A-Za-z0-9+/]{43,56})/dg,
    score: 0.97,
  },
  {
    id: "stripe_api_key",
    description: "Stripe secret and restricted keys sk_/rk_ live|prod|test_ + 10–99 (test keys score lower)",
    source: "gitleaks stripe-access-token; GitHub secret scanning (stripe_api_key, stripe_test_secret_key)",
    keywords: ["sk_live", "sk_test", "sk_prod", "rk_live", "rk_test", "rk_prod"],
    re: /\b(?:sk|rk)_(?:live|test|prod)_[0-9A-Za-z]{10,99}\b/dg,
    score: 0.97,
    minEntropy: 2,
    check: (s) => (s.includes("_test_") ? 0.75 : true),
  },
  {
    id: "openai_api_key",
    description: "OpenAI keys: sk-proj-/sk-svcacct-/sk-admin- (with the T3BlbkFJ marker 0.99, without 0.85) and legacy sk-…T3BlbkFJ…",
    source: "gitleaks openai-api-key; GitHub secret scanning (openai_api_key)",
    keywords: ["sk-proj-", "sk-svcacct-", "sk-admin-", "t3blbkfj"],
    re: /\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,250}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})(?![A-Za-z0-9_-])/dg,
    score: 0.99,
    minEntropy: 3.5,
    check: (s) => (s.includes("T3BlbkFJ") ? true : 0.85),
  },
  {
    id: "anthropic_api_key",
    description: "Anthropic API key: sk-ant-api03- + 93 + AA",
    source: "gitleaks anthropic-api-key; GitHub secret scanning (anthropic_api_key)",
    keywords: ["sk-ant-api"],
    re: /\bsk-ant-api03-[A-Za-z0-9_-]{93}AA(?![A-Za-z0-9_-])/dg,
    score: 0.99,
    minEntropy: 3.5,
  },
  {
    id: "anthropic_admin_key",
    description: "Anthropic admin API key: sk-ant-admin01- + 93 + AA",
    source: "gitleaks anthropic-admin-api-key",
    keywords: ["sk-ant-admin"],
    re: /\bsk-ant-admin01-[A-Za-z0-9_-]{93}AA(?![A-Za-z0-9_-])/dg,
    score: 0.99,
    minEntropy: 3.5,
  },
  {
    id: "google_api_key",
    description: "Google / GCP API key: AIza + 35",
    source: "gitleaks gcp-api-key; GitHub secret scanning (google_api_key)",
    keywords: ["aiza"],
    re: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/dg,
    score: 0.95,
    minEntropy: 3.5,
  },
  {
    id: "google_oauth_client_secret",
    description: "Google OAuth client secret: GOCSPX- + 28",
    source: "GitHub secret scanning (google_oauth_client_secret); SonarSource/Nosey Parker google rules",
    keywords: ["gocspx-"],
    re: /\bGOCSPX-[0-9A-Za-z_-]{28}(?![0-9A-Za-z_-])/dg,
    score: 0.97,
    minEntropy: 3,
  },
  {
    id: "azure_connection_string_key",
    description: "Azure storage AccountKey= (86 base64 + ==) and Service Bus/Event Hubs SharedAccessKey= in connection strings",
    source: "GitHub secret scanning (azure_storage_account_key); detect-secrets AzureStorageKeyDetector; Nosey Parker np.azure.1",
    keywords: ["accountkey", "sharedaccesskey"],
    re: /\b(?:AccountKey|SharedAccessKey)[ \t]*=[ \t]*(?<s>[A-Za-z0-9+/]{86}==|[A-Za-z0-9+/]{42,43}=)(?![A-Za-z0-9+/=])/dgi,
    score: 0.97,
    minEntropy: 4,
  },
  {
    id: "twilio_api_key",
    description: "Twilio API key SID: SK + 32 hex",
    source: "gitleaks twilio-api-key; GitHub secret scanning (twilio_api_key)",
    keywords: ["SK"],
    caseSensitiveKeywords: true,
    re: /\bSK[0-9a-fA-F]{32}\b/dg,
    score: 0.8,
    minEntropy: 3,
  },
  {
    id: "sendgrid_api_key",
    description: "SendGrid API key: SG. + 22 + . + 43",
    source: "GitHub secret scanning (sendgrid_api_key); gitleaks sendgrid-api-token",
    keywords: ["sg."],
    re: /\bSG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43}(?![0-9A-Za-z_-])/dg,
    score: 0.97,
    minEntropy: 3.5,
  },
  {
    id: "npm_access_token",
    description: "npm access token: npm_ + 36",
    source: "gitleaks npm-access-token; GitHub secret scanning (npm_access_token)",
    keywords: ["npm_"],
    re: /\bnpm_[A-Za-z0-9]{36}\b/dg,
    score: 0.97,
    minEntropy: 3,
  },
  {
    id: "pypi_upload_token",
    description: "PyPI API token: pypi-AgEIcHlwaS5vcmc (base64 macaroon for 'pypi.org') + 50 or more",
    source: "gitleaks pypi-upload-token; GitHub secret scanning (pypi_api_token)",
    keywords: ["pypi-ageichlwas5vcmc"],
    re: /\bpypi-AgEIcHlwaS5vcmc[\w-]{50,1000}/dg,
    score: 0.98,
  },
  {
    id: "huggingface_token",
    description: "Hugging Face user (hf_) and organization (api_org_) tokens + 34",
    source: "gitleaks huggingface-access-token, huggingface-organization-api-token; TruffleHog huggingface detector",
    keywords: ["hf_", "api_org_"],
    re: /\b(?:hf_|api_org_)[A-Za-z0-9]{34}\b/dg,
    score: 0.95,
    minEntropy: 3,
  },
  {
    id: "jwt",
    description: "JSON Web Token: eyJ… header . eyJ… payload . signature, the header decoding to JSON with \"alg\"",
    source: "gitleaks jwt (shape) + header check",
    keywords: ["eyj"],
    re: /\bey[A-Za-z0-9_-]{15,}={0,2}\.ey[A-Za-z0-9_-]{15,}={0,2}\.(?:[A-Za-z0-9_-]{10,}={0,2})?(?![A-Za-z0-9_-])/dg,
    score: 0.9,
    check: (s) => jwtHeaderOk(s),
  },
  {
    id: "private_key",
    description: "PEM/OpenSSH/PGP private key block, BEGIN to END (or a truncated block of at least two base64 lines)",
    source: "gitleaks private-key; GitHub secret scanning (private keys)",
    keywords: ["-----begin"],
    find: findPrivateKeys,
    score: 0.99,
    check: (s) => {
      // A body of placeholders ("...", "<key>") is not a key: it needs real base64 material.
      const body = s.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
      return /[A-Za-z0-9+/]{40}/.test(body) && shannonEntropy(body) > 4;
    },
  },
  {
    id: "uri_password",
    description: "A URI with a password in its userinfo — postgres, mysql, mariadb, mongodb(+srv), redis(s), amqp(s), mssql, jdbc, ftp, ldap, smtp, http(s): scheme://user:password@host… (the whole URI is the finding, as a redacted URI is useless anyway)",
    source: "TruffleHog URI / JDBC / Postgres / MongoDB / Redis detectors; Nosey Parker np.uri.*",
    keywords: ["://"],
    re: new RegExp(`\\b(?:${URI_SCHEMES}):\\/\\/[^\\s:/@"'<>\`]{0,128}:(?<pw>[^\\s@/"'<>\`]{1,256})@[A-Za-z0-9\\[\\]-](?:[A-Za-z0-9\\[\\].-]{0,253}[A-Za-z0-9\\[\\]-])?(?::\\d{1,5})?(?:[/?#](?:[^\\s"'<>\`]{0,2000}[^\\s"'<>\`.,;:!?)\\]}])?)?`, "dgi"),
    score: 0.9,
    check: (s) => {
      const pw = /:\/\/[^:/@]*:([^@/]*)@/.exec(s)?.[1];
      return pw !== undefined && !isPlaceholder(decodeURIComponentSafe(pw));
    },
  },
  {
    id: "connection_string_password",
    description: "Password=…; / Pwd=…; in an ADO.NET / ODBC / JDBC-properties style connection string (next to Server=, Data Source=, Host=, User ID=, Database=…)",
    source: "gitleaks database-password (context), Microsoft connection-string syntax",
    keywords: ["password", "pwd"],
    re: /(?<![A-Za-z0-9_])(?:password|pwd)[ \t]*=[ \t]*(?:"(?<s1>[^"\r\n]{1,256})"|'(?<s2>[^'\r\n]{1,256})'|\{(?<s3>[^}\r\n]{1,256})\}|(?<s>[^;"'\s{][^;"'\s]{0,255}))[ \t]*(?=;|$|["'\s])/dgim,
    score: 0.9,
    check: (s, m, text) => {
      if (isPlaceholder(s)) return false;
      const lo = Math.max(0, m.index - 300);
      const around = text.slice(lo, Math.min(text.length, m.index + m.length + 300));
      return /(?:^|[;"'\s])(?:server|data source|host|address|addr|user id|userid|uid|user|username|initial catalog|database|dsn|port)[ \t]*=/im.test(around) && around.includes(";");
    },
  },
];

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Ids, descriptions and sources of the rules, for docs. */
export const SECRET_RULES: readonly { id: string; description: string; source: string; score: number }[] = [
  ...RULES.map(({ id, description, source, score }) => ({ id, description, source, score })),
  {
    id: "generic_secret_assignment",
    description:
      "api_key / secret / token / password / access_key / client_secret / credential = \"<value>\" where the value is 16–200 characters with Shannon entropy ≥ 3.5 bits/char and not a placeholder, identifier, UUID or URL",
    source: "gitleaks generic-api-key (entropy 3.5, key-name allowlist)",
    score: 0.6,
  },
];

const GENERIC_SCORE = 0.6;
const GENERIC_MIN_ENTROPY = 3.5;
const GENERIC_KEYWORDS = ["key", "secret", "token", "passw", "pwd", "credential"];

function genericValueOk(v: string): boolean {
  if (v.length < 16) return false;
  if (shannonEntropy(v) < GENERIC_MIN_ENTROPY) return false;
  if (isPlaceholder(v)) return false;
  if (UUID.test(v)) return false;
  // Identifiers and dotted names (process.env.API_TOKEN, settings.secret_key_name).
  if (/^[A-Za-z_.-]+$/.test(v)) return false;
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(v)) return false;
  // Paths and URLs.
  if (/^(?:https?:|\/\/|\.{0,2}\/)/i.test(v) || /^[\w.-]+\/[\w./-]+\.[a-z]{1,5}$/i.test(v)) return false;
  // Versions and dates.
  if (/^\d[\d.:_-]+$/.test(v)) return false;
  return true;
}

/** Ranges of base64 `data:` URIs (images, fonts): nothing inside them is reported. */
const DATA_URI = /data:[a-z]+\/[a-z0-9.+-]+(?:;[a-z0-9.+-]+=[^;,\s]*)*;base64,[A-Za-z0-9+/=]+/gi;

function groupSpan(m: RegExpExecArray): [number, number, string] | undefined {
  const ind = m.indices;
  const groups = m.groups;
  if (ind && groups) {
    for (const g of ["s", "s1", "s2", "s3"]) {
      const v = groups[g];
      const span = ind.groups?.[g];
      if (v !== undefined && span) return [span[0], span[1], v];
    }
  }
  return undefined;
}

/** Keep the best of overlapping findings (higher score, then longer). Input in any order. */
function resolveOverlaps(found: Finding[]): Finding[] {
  found.sort((a, b) => a.start - b.start || b.score - a.score || b.end - a.end);
  const out: Finding[] = [];
  for (const f of found) {
    const last = out[out.length - 1];
    if (last && f.start < last.end) {
      if (f.score > last.score || (f.score === last.score && f.end - f.start > last.end - last.start)) out[out.length - 1] = f;
      continue;
    }
    out.push(f);
  }
  return out;
}

/** Every secret in `text`: type "secret", rule = the rule id. */
export const detectSecrets: Detector = (text: string): Finding[] => {
  if (typeof text !== "string" || text.length < 8) return [];
  const lower = text.toLowerCase();
  const found: Finding[] = [];

  for (const rule of RULES) {
    const hay = rule.caseSensitiveKeywords ? text : lower;
    if (!rule.keywords.some((k) => hay.includes(k))) continue;
    if (rule.find) {
      for (const [start, end] of rule.find(text)) {
        const secret = text.slice(start, end);
        if (rule.check && rule.check(secret, { index: start, length: end - start }, text) === false) continue;
        found.push({ type: "secret", start, end, score: rule.score, rule: rule.id });
      }
      continue;
    }
    const re = rule.re;
    if (!re) continue;
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      const span = groupSpan(m) ?? [m.index, m.index + m[0].length, m[0]];
      const [start, end, secret] = span;
      if (rule.minEntropy !== undefined && shannonEntropy(secret) < rule.minEntropy) continue;
      let score = rule.score;
      if (rule.check) {
        const r = rule.check(secret, { index: m.index, length: m[0].length }, text);
        if (r === false) continue;
        if (typeof r === "number") score = r;
      }
      found.push({ type: "secret", start, end, score, rule: rule.id });
    }
  }

  if (GENERIC_KEYWORDS.some((k) => lower.includes(k))) {
    GENERIC_RE.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = GENERIC_RE.exec(text)) !== null) {
      const span = groupSpan(m);
      if (!span) continue;
      const [start, end, value] = span;
      const key = keyBefore(text, m.index) + text.slice(m.index, start);
      if (GENERIC_KEY_ALLOW.test(key)) continue;
      if (!genericValueOk(value)) continue;
      found.push({ type: "secret", start, end, score: GENERIC_SCORE, rule: "generic_secret_assignment" });
    }
  }

  if (found.length === 0) return found;

  let kept = found;
  if (lower.includes("data:")) {
    const ranges: [number, number][] = [];
    DATA_URI.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = DATA_URI.exec(text)) !== null) ranges.push([m.index, m.index + m[0].length]);
    if (ranges.length) kept = found.filter((f) => !ranges.some(([a, b]) => f.start >= a && f.end <= b));
  }
  return resolveOverlaps(kept);
};
