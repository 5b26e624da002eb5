import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { hasPicoPrecision, parseEffectiveFrom } from "./pricing.js";

/**
 * Static configuration: one YAML file, validated at start-up against this schema. Secrets
 * never live in the file: provider keys and extra API keys are named by environment variable.
 * Every field is documented in docs/configuration.md.
 */

const port = z.number().int().min(0).max(65535);

const ServerSchema = z
  .object({
    host: z.string().default("127.0.0.1"),
    port: port.default(8080),
    /** Largest request body accepted on any surface. */
    max_body_bytes: z.number().int().positive().default(4 * 1024 * 1024),
    /** How long shutdown waits for in-flight calls before closing them. */
    drain_timeout_ms: z.number().int().nonnegative().default(10_000),
  })
  .strict();

const ApiKeySchema = z
  .object({
    /** Public key id: appears in events and logs instead of the key. */
    id: z.string().min(1),
    tenant: z.string().min(1),
    team: z.string().default(""),
    user: z.string().default(""),
    roles: z.array(z.string()).default(["developer"]),
    /** Models this key may call; empty means all. */
    models: z.array(z.string()).default([]),
    /** Prompt APIs this key may invoke; when set, the key may call nothing else. */
    prompts: z.array(z.string()).default([]),
    /**
     * Published prompt APIs (paths under /apis/, or a prefix ending in *) this key may call;
     * when set, the key may call nothing else (unless `prompts` also allows some).
     */
    apis: z.array(z.string().min(1)).default([]),
    /** sha256 hex of the key. */
    key_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "must be the 64-character lowercase hex sha256 of the key")
      .optional(),
    /** Or: the environment variable holding the key (hashed at start-up, never kept). */
    key_env: z.string().optional(),
    redaction_policy: z.string().default("default"),
  })
  .strict()
  .refine((k) => (k.key_sha256 ? 1 : 0) + (k.key_env ? 1 : 0) === 1, {
    message: "give exactly one of key_sha256 or key_env",
  });

const ProviderSchema = z
  .object({
    id: z.string().min(1),
    /**
     * Adapter kind. "demo" echoes; "openai" speaks the OpenAI chat-completions API;
     * "openai_compatible" the same for vLLM, Ollama, Groq, Together, DeepSeek … (base_url
     * required); "azure" Azure OpenAI (deployments, api-version, api-key header); "mistral"
     * Mistral's API; "anthropic" the Anthropic Messages API; "gemini" Google's Gemini API;
     * "bedrock" AWS Bedrock Converse (SigV4); "cohere" Cohere's v2 API.
     */
    kind: z.enum(["demo", "openai", "openai_compatible", "azure", "mistral", "anthropic", "gemini", "bedrock", "cohere"]),
    base_url: z.string().url().optional(),
    /** Environment variable with the provider's API key; the provider is off when it is unset. */
    api_key_env: z.string().optional(),
    /** Azure OpenAI: the api-version query parameter. */
    api_version: z.string().optional(),
    /** AWS Bedrock: the region, e.g. us-east-1 (also sets the default base_url). */
    region: z.string().optional(),
    /** AWS Bedrock: environment variables with the credentials (AWS defaults when unset). */
    aws_access_key_id_env: z.string().optional(),
    aws_secret_access_key_env: z.string().optional(),
    aws_session_token_env: z.string().optional(),
    /**
     * openai_compatible: per-parameter rules over the built-in map, keyed by the OpenAI
     * parameter name (drop it, rename it, default it, bound it).
     */
    params: z
      .record(
        z.string().min(1),
        z
          .object({
            drop: z.boolean().optional(),
            rename: z.string().min(1).optional(),
            default: z.unknown().optional(),
            min: z.number().optional(),
            max: z.number().optional(),
            /** Refuse an out-of-range value (400) instead of clamping it. */
            strict: z.boolean().optional(),
          })
          .strict(),
      )
      .default({}),
    /** Keep-alive connections per upstream origin. */
    connections: z.number().int().positive().default(128),
    /** Time allowed for the response headers, and between body chunks (the first-byte timeout). */
    timeout_ms: z.number().int().positive().default(120_000),
    /** Time allowed to open a connection to the provider. */
    connect_timeout_ms: z.number().int().positive().default(10_000),
  })
  .strict();

const DeploymentSchema = z
  .object({
    provider: z.string().min(1),
    /** The model name the provider knows. */
    model: z.string().min(1),
    /** Share of traffic under the weighted strategy (relative to the others). */
    weight: z.number().nonnegative().default(1),
    /**
     * What the provider model can take; a request that needs a feature goes only to
     * deployments that have it (400 naming the feature when none has).
     */
    supports: z
      .object({
        tools: z.boolean().default(true),
        images: z.boolean().default(true),
        json_schema: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** How a model's deployments are ordered for a call (the first is tried first). */
const StrategySchema = z.enum(["priority", "weighted", "least_latency", "lowest_cost"]);

/** A conditional route: when every given condition holds, only these deployments serve. */
const RouteRuleSchema = z
  .object({
    when: z
      .object({
        /** The caller's tenant is one of these. */
        tenants: z.array(z.string().min(1)).optional(),
        /** Every listed request metadata key has this value. */
        metadata: z.record(z.string(), z.string()).optional(),
        /** Every listed request header (x-… headers only, lower-case) has this value. */
        headers: z.record(z.string().regex(/^x-[a-z0-9-]+$/, "must be a lower-case x-… header name"), z.string()).optional(),
        /** Prompt length in characters (all message text) is at least / at most this. */
        min_prompt_chars: z.number().int().nonnegative().optional(),
        max_prompt_chars: z.number().int().nonnegative().optional(),
      })
      .strict(),
    /** Deployment ids ("<provider>/<model>") of this model, in priority order. */
    deployments: z.array(z.string().min(1)).min(1),
    /** Strategy for this route (the model's when unset). */
    strategy: StrategySchema.optional(),
  })
  .strict();

const ModelSchema = z
  .object({
    name: z.string().min(1),
    owned_by: z.string().default("tessera"),
    /** priority (fallback in order), weighted, least_latency (EWMA) or lowest_cost (price table). */
    strategy: StrategySchema.default("priority"),
    deployments: z.array(DeploymentSchema).min(1),
    /** Conditional routes, the first match wins; no match uses every deployment. */
    routes: z.array(RouteRuleSchema).default([]),
    /** Teams must subscribe, and an admin approve, before their keys may call this model. */
    requires_approval: z.boolean().default(false),
  })
  .strict();

/**
 * USD per million tokens, with at most six decimals: a whole number of pico-dollars per token,
 * which keeps every cost metering stores exact.
 */
const UsdPerMillion = z
  .number()
  .nonnegative()
  .refine(hasPicoPrecision, "at most 6 decimal places (USD per million tokens; costs are kept in pico-dollars per token)");

/** Price of a provider model in USD per million tokens. */
const PriceSchema = z
  .object({
    /** The provider model name (as sent to the provider). */
    model: z.string().min(1),
    /** Only for this provider id (any provider serving that model name when unset). */
    provider: z.string().optional(),
    /**
     * When this price starts to apply: a date (midnight UTC) or a date-time with a zone. Entries
     * for the same model and provider form a history; without it, the entry applies from the start.
     */
    effective_from: z
      .string()
      .refine((s) => parseEffectiveFrom(s) !== undefined, "must be an ISO date (2025-03-01) or date-time with a zone (2025-03-01T12:00:00Z)")
      .optional(),
    input: UsdPerMillion,
    output: UsdPerMillion,
    /** Prompt tokens read from the provider's cache (input price when unset). */
    cached_input: UsdPerMillion.optional(),
    /** Hidden reasoning tokens (output price when unset). */
    reasoning: UsdPerMillion.optional(),
  })
  .strict();

const RoutingSchema = z
  .object({
    /** Extra attempts on the same deployment after a retryable error, before falling back. */
    retries: z.number().int().min(0).max(10).default(1),
    /** Backoff before a retry: exponential from this base with full jitter… */
    backoff_base_ms: z.number().int().nonnegative().default(100),
    /** …capped here. A Retry-After longer than this falls back instead of waiting. */
    backoff_max_ms: z.number().int().nonnegative().default(2_000),
    /** Bound on a whole call, retries and fallbacks included (streams: until the end). */
    total_timeout_ms: z.number().int().positive().default(600_000),
    /** Smoothing of the least-latency EWMA (weight of the newest sample). */
    ewma_alpha: z.number().gt(0).max(1).default(0.3),
    circuit_breaker: z
      .object({
        /** Retryable failures within window_ms that open a deployment's breaker. */
        failure_threshold: z.number().int().positive().default(5),
        window_ms: z.number().int().positive().default(30_000),
        /** How long an open breaker skips the deployment before one trial call. */
        cooldown_ms: z.number().int().positive().default(30_000),
      })
      .strict()
      .default({ failure_threshold: 5, window_ms: 30_000, cooldown_ms: 30_000 }),
  })
  .strict()
  .prefault({});

const RedisSchema = z
  .object({
    /** e.g. redis://127.0.0.1:6379/0; shared state (circuit breakers) lives here in the mesh. */
    url: z.string().url(),
    /** Prefix of every key Tessera writes. */
    key_prefix: z.string().default("tessera:"),
  })
  .strict();

/** Entity types the guardrails detect (see docs/guardrails.md). */
const EntityTypeSchema = z.enum(["email", "phone", "card", "iban", "ssn", "ip", "dob", "address", "person", "secret", "denied"]);

/**
 * What to do with an entity: replace it with a placeholder (`<EMAIL_1>`), with a keyed hash,
 * tokenise it reversibly (placeholder out, original restored in the answer), refuse the call
 * (4xx naming the rule), only count it, or ignore it.
 */
const EntityActionSchema = z.enum(["mask", "hash", "tokenize", "block", "flag", "off"]);

const RedactionPolicySchema = z
  .object({
    /** Shorthand: these entity types are masked (older files; `entities` wins). */
    mask: z.array(EntityTypeSchema).optional(),
    /** The action per entity type; types not listed keep the default policy's action. */
    entities: z.partialRecord(EntityTypeSchema, EntityActionSchema).default({}),
    /** Findings below this confidence are ignored (names and addresses score lower than formats with checksums). */
    min_score: z.number().min(0).max(1).default(0.5),
    /** Scan the model's answers too (streams included): new entities masked, tokens restored either way. */
    responses: z.boolean().default(true),
    injection: z
      .object({
        /** Score (0..1) at or above which a text counts as a prompt injection. */
        threshold: z.number().min(0).max(1).default(0.5),
        action: z.enum(["block", "flag", "off"]).default("flag"),
        /** Score tool results and retrieved documents (indirect injection) too. */
        tool_results: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    /** Per-tenant moderation: words, regex patterns and named topic word lists ("denied" entities). */
    deny: z
      .object({
        words: z.array(z.string().min(1)).default([]),
        patterns: z.array(z.string().min(1)).default([]),
        topics: z.record(z.string(), z.array(z.string().min(1))).default({}),
        action: z.enum(["block", "flag", "mask"]).default("block"),
      })
      .strict()
      .optional(),
    /** An external analyzer with Microsoft Presidio's /analyze API, for operators who run one. */
    analyzer: z
      .object({
        url: z.string().url(),
        language: z.string().default("en"),
        score_threshold: z.number().min(0).max(1).default(0.5),
        timeout_ms: z.number().int().positive().default(2000),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Declared variables: a name (a required string), or `{ name, type, default, required, enum }`.
 * Rendering checks every value against its declaration.
 */
const VariablesSchema = z
  .array(
    z.union([
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a variable name"),
      z
        .object({
          name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a variable name"),
          type: z.enum(["string", "number", "integer", "boolean", "array", "object"]).default("string"),
          default: z.unknown().optional(),
          /** Required unless it has a default. */
          required: z.boolean().optional(),
          /** Allowed values (strings). */
          enum: z.array(z.string()).optional(),
          description: z.string().optional(),
        })
        .strict(),
    ]),
  )
  .default([]);

/** One prompt version, as configured (and as published through the admin API and import files). */
export const PromptVersionSchema = z
  .object({
    version: z.number().int().positive(),
    model: z.string().min(1),
    messages: z
      .array(
        z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() }).strict(),
      )
      .min(1),
    variables: VariablesSchema,
    /** Caps the answer's length unless the call sets max_tokens. */
    max_tokens: z.number().int().positive().optional(),
    /** A JSON Schema the answer must match: asked of the provider, and checked. */
    output_schema: z.record(z.string(), z.unknown()).optional(),
    temperature: z.number().min(0).max(2).optional(),
  })
  .strict();

/** Where a label points: a version, or a split of traffic between versions (canary, A/B). */
const LabelTargetSchema = z.union([
  z.number().int().positive(),
  z.array(z.object({ version: z.number().int().positive(), weight: z.number().int().min(1).max(10_000) }).strict()).min(1),
]);

/** A prompt as configured under `prompts:`; prompt export files have the same shape. */
export const PromptConfigSchema = z
  .object({
    name: z.string().min(1),
    tenant: z.string().default("*"),
    versions: z.array(PromptVersionSchema).min(1),
    labels: z.record(z.string(), LabelTargetSchema).default({}),
    /** Teams must subscribe (resource kind prompt), and an admin approve, before invoking it. */
    requires_approval: z.boolean().default(false),
  })
  .strict();

/** A published API's path: /apis/ and one to eight segments of letters, digits, '.', '_' or '-'. */
export const API_PATH = /^\/apis(\/[A-Za-z0-9][A-Za-z0-9._-]{0,63}){1,8}$/;

/** Which version of its prompt a step renders (a label, production when neither is set, or a version) and with what. */
const StepFields = {
  label: z.string().min(1).optional(),
  version: z.number().int().positive().optional(),
  /**
   * The prompt's variables as Liquid expressions over the API's input and earlier steps'
   * outputs, e.g. `{ customer: "{{ steps.extract.output.customer }}" }`; a lone `{{ … }}` keeps
   * the value's type. Unset: the API's input variables are the prompt's own, passed through.
   */
  variables: z.record(z.string(), z.string()).optional(),
};

const ApiStepSchema = z
  .object({ name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a step name (letters, digits, _)"), prompt: z.string().min(1), ...StepFields })
  .strict()
  .refine((s) => !(s.label && s.version), { message: "give label or version, not both" });

/** A published API's fields, without its tenant (the configuration names one; the admin API acts on one). */
const PublishedApiFields = {
  path: z.string().regex(API_PATH, "must be /apis/ then 1-8 segments of letters, digits, '.', '_' or '-' (e.g. /apis/support/summarize)"),
  description: z.string().default(""),
  prompt: z.string().min(1).optional(),
  ...StepFields,
  steps: z.array(ApiStepSchema).min(1).max(16).optional(),
  /** The API's own input variables (declared like a prompt's); needed when variables are mapped. */
  input: VariablesSchema,
  /**
   * Who may call it, beyond the tenant's callers (admin, developer): any of these key ids,
   * teams or roles; no list set means every caller of the tenant.
   */
  access: z
    .object({ keys: z.array(z.string().min(1)).default([]), teams: z.array(z.string().min(1)).default([]), roles: z.array(z.enum(["admin", "developer"])).default([]) })
    .strict()
    .prefault({}),
  /** Teams must subscribe (resource kind prompt, resource the path), and an admin approve. */
  requires_approval: z.boolean().default(false),
};

/** The rules every published API's shape obeys, wherever it is defined. */
function publishedApiRules<T extends z.ZodType<{ prompt?: string | undefined; steps?: unknown[] | undefined; label?: string | undefined; version?: number | undefined; variables?: object | undefined }>>(schema: T) {
  return schema
    .refine((a) => (a.prompt ? 1 : 0) + (a.steps ? 1 : 0) === 1, { message: "give exactly one of prompt (one prompt) or steps (a chain)" })
    .refine((a) => !(a.label && a.version), { message: "give label or version, not both" })
    .refine((a) => !(a.steps && (a.label || a.version || a.variables)), { message: "a chain's label, version and variables belong to each of its steps" });
}

/**
 * A prompt published at a path of its own: one prompt (`prompt`), or a chain (`steps`) whose
 * last step answers. Checked against the prompts when prompt-registry loads.
 */
const PromptApiSchema = publishedApiRules(z.object({ ...PublishedApiFields, tenant: z.string().min(1) }).strict());

/** A published API as the prompt admin API takes it: a `prompt_apis:` entry without its tenant. */
export const PublishedApiSchema = publishedApiRules(z.object(PublishedApiFields).strict());

/** A trusted issuer of bearer tokens (JWT / OIDC). */
const JwtIssuerSchema = z
  .object({
    /** The `iss` the tokens carry, exactly. */
    issuer: z.string().min(1),
    /** Where the issuer publishes its signing keys (fetched, cached, refetched on an unknown kid). */
    jwks_uri: z.string().url(),
    /** Accepted `aud` values; a token must carry one of them. */
    audience: z.array(z.string().min(1)).min(1),
    algorithms: z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"])).default(["RS256", "ES256"]),
    /** Allowed clock skew for exp/nbf/iat. */
    clock_tolerance_s: z.number().int().nonnegative().default(30),
    /** Every token of this issuer belongs to this tenant (else the tenant claim is required). */
    tenant: z.string().min(1).optional(),
    /** Claim names (dot paths allowed, e.g. "realm_access.roles"). */
    claims: z
      .object({
        tenant: z.string().default("tenant"),
        team: z.string().default("team"),
        user: z.string().default("sub"),
        roles: z.string().default("roles"),
      })
      .strict()
      .prefault({}),
    /** Claim values mapped to Tessera roles (admin, developer, viewer); unmapped values are dropped. */
    role_map: z.record(z.string(), z.enum(["admin", "developer", "viewer"])).default({}),
    /** Roles when the token maps to none. */
    default_roles: z.array(z.enum(["admin", "developer", "viewer"])).default(["developer"]),
  })
  .strict();

/** A SQL store: PGlite (Postgres in WASM) in a directory or in memory, or Postgres. */
const SqlStoreSchema = z.discriminatedUnion("kind", [
  /** PGlite (Postgres in WASM): a directory, or in memory when path is empty. */
  z.object({ kind: z.literal("pglite"), path: z.string().default(".data/authz") }).strict(),
  /** Postgres: the connection URL, or the environment variable holding it (it has a password). */
  z.object({ kind: z.literal("postgres"), url: z.string().optional(), url_env: z.string().optional(), pool_size: z.number().int().positive().default(10) }).strict(),
]);

const AuthzSchema = z
  .object({
    /** Where tenants, keys, limits and budgets live. */
    store: SqlStoreSchema.default({ kind: "pglite", path: ".data/authz" }),
    /** Rate-limit, budget and quota counters: in memory, or in Redis (the `redis` section) for the mesh. */
    counters: z.enum(["memory", "redis"]).default("memory"),
    /** Environment variable holding the operator's bootstrap admin token (admin API off for it when unset). */
    admin_token_env: z.string().default("TESSERA_ADMIN_TOKEN"),
    /** How long a key, team, limit or budget read from the store is reused (revocation takes at most this). */
    cache_ms: z.number().int().nonnegative().max(1000).default(1000),
    /** Failed authentications per source address per minute before 429 (0: no limit). */
    max_failed_auth_per_minute: z.number().int().nonnegative().default(30),
    /** Output tokens assumed for the budget reservation when a call sets no max_tokens. */
    default_max_output_tokens: z.number().int().positive().default(1024),
    /** A reservation never settled (a crashed caller) is released after this. */
    reservation_ttl_ms: z.number().int().positive().default(15 * 60_000),
    /**
     * Start a budget ledger this process has not touched yet from the spend metering stored for
     * its period (all-in-one in process; mesh through mesh.metering), so counters lost to a
     * restart or a Redis flush do not reset budgets.
     */
    seed_spend_from_metering: z.boolean().default(true),
    /** Bound on that lookup; past it the call goes on from the counters alone. */
    seed_spend_timeout_ms: z.number().int().positive().default(500),
    jwt: z.object({ issuers: z.array(JwtIssuerSchema).default([]) }).strict().prefault({}),
  })
  .strict()
  .prefault({});

const PromptRegistrySchema = z
  .object({
    /**
     * Where stored prompts (versions, labels, history) live. Unset: in authz's database, in
     * tables of their own (all-in-one: the same PGlite, not a second one).
     */
    store: SqlStoreSchema.optional(),
    /** How long a stored prompt's labels are reused before the store is read again (a label moved on another replica is served within this). */
    cache_ms: z.number().int().nonnegative().max(1000).default(1000),
  })
  .strict()
  .prefault({});
/** Where a publisher puts events Kafka cannot take (see docs/operations.md#event-spool). */
const SpoolSchema = z
  .object({
    /** Directory of the process's spool; empty: `.data/spool/<service>`. One process per directory. */
    dir: z.string().default(""),
    /** Most bytes on disk; past it the oldest events are dropped (counted, warned). 0 turns the spool off. */
    max_bytes: z.number().int().nonnegative().default(1024 * 1024 * 1024),
    /** Size of one segment file (removed once sent); default max_bytes / 8, at most 16 MiB. */
    segment_bytes: z.number().int().positive().optional(),
  })
  .strict();

const EventsSchema = z
  .discriminatedUnion("kind", [
    z.object({ kind: z.literal("memory") }).strict(),
    z
      .object({
        kind: z.literal("kafka"),
        brokers: z.array(z.string().min(1)).min(1),
        topic: z.string().default("tessera.requests.v1"),
        group_id: z.string().default("tessera-metering"),
        /** Where metering sends events it cannot store, with the reason in a header. */
        dead_letter_topic: z.string().min(1).default("tessera.requests.v1.dlq"),
        /** Events a publisher holds in memory while Kafka is slow before it spills to the spool. */
        max_buffered: z.number().int().positive().default(100_000),
        spool: SpoolSchema.prefault({}),
      })
      .strict(),
  ])
  .default({ kind: "memory" });

const MeteringSchema = z
  .object({
    /** Most events per ClickHouse insert (a larger Kafka fetch is stored and committed in slices). */
    batch_max_events: z.number().int().positive().default(5_000),
    /** Longest an event waits for its batch to fill (at the broker with Kafka, in memory all-in-one). */
    batch_max_ms: z.number().int().positive().default(500),
    /** Kafka: bytes a fetch waits for (up to batch_max_ms) before metering gets it; larger means fewer, larger inserts under load. */
    batch_min_bytes: z.number().int().positive().default(1024 * 1024),
    /** Partitions whose batches are stored at the same time (one insert each). */
    parallel_batches: z.number().int().positive().max(64).default(4),
  })
  .strict()
  .prefault({});

const UsageStoreSchema = z
  .discriminatedUnion("kind", [
    z
      .object({
        kind: z.literal("embedded"),
        /** Most recent requests kept in memory (older ones are forgotten). */
        max_requests: z.number().int().positive().default(20_000),
      })
      .strict(),
    z
      .object({
        kind: z.literal("clickhouse"),
        url: z.string().url(),
        database: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default("tessera"),
        username: z.string().default("default"),
        password_env: z.string().optional(),
      })
      .strict(),
  ])
  .default({ kind: "embedded", max_requests: 20_000 });

const ServiceAddrSchema = z
  .object({
    /** Where the service listens in mesh mode. */
    listen: z.object({ host: z.string().default("127.0.0.1"), port }).strict(),
    /** How others reach it (defaults to http://listen.host:listen.port). */
    url: z.string().url().optional(),
  })
  .strict();

const MeshSchema = z
  .object({
    authz: ServiceAddrSchema,
    redaction: ServiceAddrSchema,
    router: ServiceAddrSchema,
    prompt_registry: ServiceAddrSchema,
    metering: ServiceAddrSchema,
  })
  .strict();

const TelemetrySchema = z
  .object({
    /** OTLP/HTTP traces endpoint, e.g. http://collector:4318/v1/traces; off when empty. */
    otlp_traces_url: z.string().url().optional(),
    /** Fraction of calls traced, 0..1. */
    sample_ratio: z.number().min(0).max(1).default(1),
  })
  .strict()
  .default({ sample_ratio: 1 });

export const ConfigSchema = z
  .object({
    server: ServerSchema.prefault({}),
    api_keys: z.array(ApiKeySchema).default([]),
    providers: z.array(ProviderSchema).default([]),
    models: z.array(ModelSchema).default([]),
    routing: RoutingSchema,
    prices: z.array(PriceSchema).default([]),
    redis: RedisSchema.optional(),
    redaction: z
      .object({
        /** Named policies; "default" applies when nothing else names one. */
        policies: z.record(z.string(), RedactionPolicySchema).default({}),
        /** The policy of each tenant (a key's own redaction_policy, when not "default", wins). */
        tenants: z.record(z.string(), z.string()).default({}),
        /** How long tokenised values are kept for restoring answers. */
        vault_ttl_ms: z.number().int().positive().default(10 * 60_000),
        /** Environment variable with the key for `hash` (random per process when unset: hashes then differ across restarts). */
        hash_key_env: z.string().default("TESSERA_REDACTION_HASH_KEY"),
      })
      .strict()
      .prefault({}),
    prompts: z.array(PromptConfigSchema).default([]),
    prompt_registry: PromptRegistrySchema,
    /** Prompts published at paths of their own, with access rules; chains of prompts. */
    prompt_apis: z.array(PromptApiSchema).default([]),
    authz: AuthzSchema,
    events: EventsSchema,
    metering: MeteringSchema,
    usage_store: UsageStoreSchema,
    mesh: MeshSchema.optional(),
    telemetry: TelemetrySchema,
  })
  .strict();

/** The validated file as written. */
export type RawConfig = z.infer<typeof ConfigSchema>;

/** A published prompt API as configured. */
export type PromptApiConfig = z.infer<typeof PromptApiSchema>;

/** A published prompt API's definition, wherever it is kept: a `prompt_apis:` entry without its tenant. */
export type PublishedApi = z.infer<typeof PublishedApiSchema>;

/** An API key ready for lookup: the secret is only kept as its hash. */
/** A redaction policy as configured. */
export type RedactionPolicyConfig = z.infer<typeof RedactionPolicySchema>;

/** A trusted bearer-token issuer from the configuration. */
export type JwtIssuerConfig = z.infer<typeof JwtIssuerSchema>;

export interface ResolvedApiKey extends Omit<z.infer<typeof ApiKeySchema>, "key_env" | "key_sha256"> {
  keySha256: string;
}

/** AWS credentials for SigV4 signing. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A provider with its secrets resolved from the environment (undefined when off). */
export interface ResolvedProvider extends z.infer<typeof ProviderSchema> {
  apiKey: string | undefined;
  /** Bedrock only: the signing credentials (undefined when the variables are unset). */
  aws?: AwsCredentials | undefined;
}

/** Where each kind's public API lives, when base_url is not given. */
const DEFAULT_BASE_URLS: Partial<Record<ResolvedProvider["kind"], (p: { region?: string | undefined }) => string>> = {
  openai: () => "https://api.openai.com/v1",
  mistral: () => "https://api.mistral.ai/v1",
  anthropic: () => "https://api.anthropic.com/v1",
  gemini: () => "https://generativelanguage.googleapis.com/v1beta",
  cohere: () => "https://api.cohere.com",
  bedrock: (p) => `https://bedrock-runtime.${p.region}.amazonaws.com`,
};

function awsCredentials(p: z.infer<typeof ProviderSchema>, env: NodeJS.ProcessEnv): AwsCredentials | undefined {
  const accessKeyId = env[p.aws_access_key_id_env ?? "AWS_ACCESS_KEY_ID"];
  const secretAccessKey = env[p.aws_secret_access_key_env ?? "AWS_SECRET_ACCESS_KEY"];
  const sessionToken = env[p.aws_session_token_env ?? "AWS_SESSION_TOKEN"] || undefined;
  if (!accessKeyId || !secretAccessKey) return undefined;
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}

/** Configuration after validation, env resolution and defaults. */
export interface Config extends Omit<RawConfig, "api_keys" | "providers"> {
  apiKeys: ResolvedApiKey[];
  providers: ResolvedProvider[];
}

/** A configuration problem, naming the field and what to do. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** sha256 hex of a secret, the only form in which keys are kept. */
export function sha256Hex(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Parse and validate configuration text. `source` names it in errors. */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = ConfigSchema.safeParse(doc);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  - ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new ConfigError(`${source}: invalid configuration:\n${lines.join("\n")}`);
  }
  const raw = parsed.data;
  return resolve(raw, source, env);
}

function resolve(raw: RawConfig, source: string, env: NodeJS.ProcessEnv): Config {
  const problems: string[] = [];
  const apiKeys: ResolvedApiKey[] = [];
  raw.api_keys.forEach((k, i) => {
    const { key_env, key_sha256, ...rest } = k;
    let hash = key_sha256;
    if (key_env) {
      const v = env[key_env];
      if (!v) {
        problems.push(`api_keys.${i}.key_env: environment variable ${key_env} is not set; set it or remove key ${k.id}`);
        return;
      }
      hash = sha256Hex(v);
    }
    apiKeys.push({ ...rest, keySha256: hash! });
  });
  const ids = new Set<string>();
  raw.api_keys.forEach((k, i) => {
    if (ids.has(k.id)) problems.push(`api_keys.${i}.id: duplicate key id ${k.id}`);
    ids.add(k.id);
  });
  const providers: ResolvedProvider[] = raw.providers.map((p) => ({
    ...p,
    base_url: p.base_url ?? (p.kind === "bedrock" && !p.region ? undefined : DEFAULT_BASE_URLS[p.kind]?.(p)),
    apiKey: p.api_key_env ? env[p.api_key_env] || undefined : undefined,
    ...(p.kind === "bedrock" ? { aws: awsCredentials(p, env) } : {}),
  }));
  const providerIds = new Set<string>();
  providers.forEach((p, i) => {
    if (providerIds.has(p.id)) problems.push(`providers.${i}.id: duplicate provider id ${p.id}`);
    providerIds.add(p.id);
    if (p.kind === "bedrock" && !p.region) problems.push(`providers.${i}.region: required for kind bedrock (e.g. us-east-1)`);
    else if (p.kind !== "demo" && !p.base_url) problems.push(`providers.${i}.base_url: required for kind ${p.kind}`);
    if (p.kind === "azure" && !p.api_version) problems.push(`providers.${i}.api_version: required for kind azure (e.g. 2024-10-21)`);
    if (p.kind !== "openai_compatible" && Object.keys(p.params).length > 0) problems.push(`providers.${i}.params: only for kind openai_compatible`);
  });
  raw.models.forEach((m, i) => {
    m.deployments.forEach((d, j) => {
      if (!providerIds.has(d.provider))
        problems.push(`models.${i}.deployments.${j}.provider: unknown provider "${d.provider}" (define it under providers)`);
    });
    const ids = new Set(m.deployments.map((d) => `${d.provider}/${d.model}`));
    m.routes.forEach((r, j) =>
      r.deployments.forEach((d, k) => {
        if (!ids.has(d)) problems.push(`models.${i}.routes.${j}.deployments.${k}: "${d}" is not a deployment of ${m.name} (one of: ${[...ids].join(", ")})`);
      }),
    );
    if (m.strategy === "weighted" && m.deployments.every((d) => d.weight === 0))
      problems.push(`models.${i}.deployments: the weighted strategy needs at least one weight above 0`);
  });
  if (raw.events.kind === "kafka" && raw.events.dead_letter_topic === raw.events.topic)
    problems.push(`events.dead_letter_topic: must differ from events.topic (${raw.events.topic})`);
  const priceVersions = new Map<string, number>();
  raw.prices.forEach((p, i) => {
    const key = `${p.provider ?? "*"} ${p.model} ${p.effective_from === undefined ? "" : parseEffectiveFrom(p.effective_from)}`;
    const first = priceVersions.get(key);
    if (first !== undefined)
      problems.push(`prices.${i}: same model, provider and effective_from as prices.${first} (${p.model}${p.provider ? ` on ${p.provider}` : ""}); give each version its own effective_from`);
    else priceVersions.set(key, i);
  });
  if (raw.authz.counters === "redis" && !raw.redis) problems.push("authz.counters: redis needs the redis section (redis: { url: … })");
  for (const [at, store] of [["authz.store", raw.authz.store], ["prompt_registry.store", raw.prompt_registry.store]] as const)
    if (store?.kind === "postgres" && !store.url && !store.url_env) problems.push(`${at}: kind postgres needs url, or url_env naming the environment variable that holds it`);
  for (const [tenant, policy] of Object.entries(raw.redaction.tenants))
    if (policy !== "default" && !(policy in raw.redaction.policies)) problems.push(`redaction.tenants.${tenant}: unknown policy "${policy}"`);
  for (const [name, p] of Object.entries(raw.redaction.policies))
    for (const [i, pattern] of (p.deny?.patterns ?? []).entries()) {
      try {
        new RegExp(pattern, "iu");
      } catch (err) {
        problems.push(`redaction.policies.${name}.deny.patterns.${i}: not a valid regular expression (${(err as Error).message})`);
      }
    }
  for (const [i, k] of raw.api_keys.entries()) {
    if (!(k.redaction_policy in raw.redaction.policies) && k.redaction_policy !== "default")
      problems.push(`api_keys.${i}.redaction_policy: unknown policy "${k.redaction_policy}"`);
    k.apis.forEach((a, j) => {
      if (!a.endsWith("*") && !raw.prompt_apis.some((p) => p.path === a && p.tenant === k.tenant))
        problems.push(`api_keys.${i}.apis.${j}: no prompt API "${a}" for tenant ${k.tenant} (see prompt_apis)`);
    });
  }
  const apis = new Set<string>();
  raw.prompt_apis.forEach((a, i) => {
    const key = `${a.tenant} ${a.path}`;
    if (apis.has(key)) problems.push(`prompt_apis.${i}.path: duplicate API ${a.path} for tenant ${a.tenant}`);
    apis.add(key);
  });
  if (problems.length) throw new ConfigError(`${source}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  const { api_keys: _k, providers: _p, ...rest } = raw;
  return { ...rest, apiKeys, providers };
}

/**
 * Load the configuration file: TESSERA_CONFIG if set, else `defaultPath`. Errors name the file
 * and the field.
 */
export function loadConfig(defaultPath: string, env: NodeJS.ProcessEnv = process.env): Config {
  const path = env["TESSERA_CONFIG"] || defaultPath;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(
      `cannot read configuration file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; set TESSERA_CONFIG to a readable YAML file`,
    );
  }
  const cfg = parseConfig(text, path, env);
  const envPort = env["TESSERA_PORT"];
  if (envPort !== undefined && envPort !== "") {
    const p = Number(envPort);
    if (!Number.isInteger(p) || p < 0 || p > 65535)
      throw new ConfigError(`TESSERA_PORT: "${envPort}" is not a port number (0-65535)`);
    cfg.server.port = p;
  }
  return cfg;
}
