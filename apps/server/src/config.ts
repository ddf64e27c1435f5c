import { readFileSync } from "node:fs";
import { z } from "zod";
import { trustProxyProblem } from "./gateway/client-ip.js";

/**
 * The environment, read once and validated here; everything else receives ServerConfig.
 * Every limit of the product is one of these variables (see the README's table).
 */

const int = (def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === "") return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: "custom", message: `must be an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

const str = (def: string) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? def : v.trim()));

/** One of the values, or undefined when unset or empty (compose passes `${X:-}` as ""). */
const optEnum = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess((v) => (typeof v === "string" && v.trim() === "" ? undefined : typeof v === "string" ? v.trim() : v), z.enum(values).optional());

const list = z
  .string()
  .optional()
  .transform((v) => (v ?? "").split(",").map((s) => s.trim()).filter(Boolean));

const urlList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const items = (v ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    for (const item of items) {
      if (!/^https?:\/\/[^/\s]+\/?$/.test(item)) {
        ctx.addIssue({ code: "custom", message: `"${item}" must be a base URL like http://host:port` });
        return z.NEVER;
      }
    }
    return items;
  });

/**
 * An origin exactly as a browser sends it in the Origin header: http or https, a host (a name, an
 * IPv4 address or a bracketed IPv6 one) and an optional port; nothing after it, not even "/".
 */
const ORIGIN = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$/;

/** The browser's spelling of an origin (lower-case host, no default port), or undefined. */
function parseOrigin(text: string): string | undefined {
  if (!ORIGIN.test(text)) return undefined;
  try {
    const origin = new URL(text).origin;
    return origin === "null" ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * Comma-separated origins. No wildcard: "*" would admit every site's pages, a DNS-rebound one
 * included, to the API and its sockets, which PUBLIC_ORIGIN exists to prevent.
 */
const originList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const out = new Set<string>();
    for (const item of (v ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
      const origin = parseOrigin(item);
      if (origin === undefined) {
        const why =
          item === "*"
            ? `"*" is not accepted: it would admit every site; list the origins`
            : `"${item}" must be an origin like https://chat.example.com (http or https, a host and an optional port; no path, not even a trailing "/")`;
        ctx.addIssue({ code: "custom", message: why });
        return z.NEVER;
      }
      out.add(origin);
    }
    return [...out];
  });

const envSchema = z.object({
  ROLE: z.enum(["all", "gateway", "auth", "chat"]).optional().default("all"),
  AUTH_URL: urlList,
  CHAT_URLS: urlList,
  UPSTREAM_RESOLVE_SECONDS: int(10, 1, 86_400),
  UPSTREAM_HEALTH_INTERVAL_SECONDS: int(5, 1, 3600),
  UPSTREAM_HEALTH_TIMEOUT_MS: int(2000, 50, 60_000),
  UPSTREAM_EJECT_SECONDS: int(10, 1, 3600),
  UPSTREAM_CONNECT_TIMEOUT_MS: int(2000, 50, 60_000),
  UPSTREAM_TIMEOUT_MS: int(15_000, 100, 600_000),
  UPSTREAM_MOVE_SOCKETS_AFTER_CHECKS: int(2, 0, 1000),
  JWT_PUBLIC_KEY: z.string().optional(),
  JWKS_REFRESH_SECONDS: int(300, 1, 86_400),
  JWKS_MIN_REFRESH_SECONDS: int(30, 1, 3600),
  AUTH_TIMEOUT: int(5, 1, 120),
  RATE_LIMIT_STORE: optEnum(["memory", "postgres", "redis"]),
  REQUEST_LIMIT_STORE: z.enum(["memory", "shared"]).optional().default("memory"),
  BUS: optEnum(["postgres", "redis"]),
  REDIS_URL: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() !== "" ? v.trim() : undefined))
    .refine((v) => v === undefined || /^rediss?:\/\//.test(v), "must be a redis:// or rediss:// URL"),
  BUS_PAYLOAD_MAX_BYTES: int(8192, 0, 1_048_576),
  BUS_CATCH_UP_MS: int(2000, 0, 3_600_000),
  REDIS_KEY_PREFIX: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() !== "" ? v.trim() : "anonchat:"))
    .refine((v) => /^[A-Za-z0-9:_.-]{1,64}$/.test(v), "must be 1-64 letters, digits or : _ . -"),
  // Checked in loadConfig (the value must never appear in a message).
  SERVICE_SECRET: z.string().optional(),
  SERVICE_SECRET_FILE: z.string().optional(),
  PORT: int(8080, 0, 65535),
  HOST: str("0.0.0.0"),
  DATA_DIR: str("./.data"),
  DATABASE_URL: z
    .string()
    .optional()
    .transform((v) => (v && v.trim() !== "" ? v.trim() : undefined))
    .refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), "must be a postgres:// URL"),
  DATABASE_POOL_MAX: int(10, 1, 500),
  JWT_PRIVATE_KEY: z
    .string()
    .optional()
    .refine((v) => v === undefined || v.trim() === "" || v.includes("PRIVATE KEY"), "must be a PEM private key"),
  JWT_EXTRA_PUBLIC_KEYS: z.string().optional(),
  JWT_ISSUER: str("anonchat"),
  JWT_AUDIENCE: str("anonchat"),
  ACCESS_TOKEN_TTL: int(900, 2, 86_400),
  REFRESH_TOKEN_TTL: int(30 * 86_400, 60, 365 * 86_400),
  // Long enough for two tabs that refresh at once; the bound keeps reuse detection meaningful.
  REFRESH_REUSE_GRACE: int(10, 0, 300),
  ARGON2_MEMORY_KIB: int(19_456, 1024, 1_048_576),
  ARGON2_TIME_COST: int(2, 1, 20),
  ARGON2_PARALLELISM: int(1, 1, 16),
  HASH_CONCURRENCY: int(4, 1, 64),
  HASH_QUEUE_MAX: int(200, 0, 100_000),
  HASH_CONCURRENCY_PER_IP: int(1, 1, 64),
  HASH_QUEUE_PER_IP: int(16, 0, 100_000),
  RATE_LIMIT_PER_IP: int(600, 1, 10_000_000),
  RATE_LIMIT_WINDOW: int(60, 1, 86_400),
  RATE_LIMIT_PER_USER: int(600, 1, 10_000_000),
  RATE_LIMIT_USER_WINDOW: int(60, 1, 86_400),
  CALL_CONCURRENCY_PER_USER: int(4, 1, 1000),
  CALL_QUEUE_PER_USER: int(64, 0, 100_000),
  MAX_BATCH_CALLS: int(32, 1, 1000),
  LOGIN_FAILS_PER_EMAIL_IP: int(10, 1, 10_000),
  LOGIN_FAILS_WINDOW: int(900, 1, 86_400),
  LOGIN_FAILS_PER_IP: int(100, 1, 1_000_000),
  LOGIN_FAILS_PER_IP_WINDOW: int(86_400, 1, 7 * 86_400),
  REGISTRATIONS_PER_IP: int(30, 1, 10_000_000),
  REGISTRATIONS_PER_IP_WINDOW: int(3600, 1, 7 * 86_400),
  SEND_LIMIT: int(100, 1, 10_000_000),
  SEND_LIMIT_WINDOW: int(10, 1, 3600),
  MAX_MESSAGE_LENGTH: int(4000, 1, 4000),
  MAX_BODY_BYTES: int(65_536, 1024, 10_485_760),
  MAX_WS_PAYLOAD_BYTES: int(65_536, 1024, 10_485_760),
  WS_SEND_BUFFER_MAX: int(1_048_576, 16_384, 268_435_456),
  SUBSCRIBER_QUEUE_MAX: int(1000, 10, 1_000_000),
  UNREAD_COUNT_MAX: int(999, 1, 1_000_000),
  MAX_ROOMS_PER_USER: int(500, 1, 100_000),
  TYPING_TTL_MS: int(6000, 1000, 60_000),
  TYPING_LIMIT: int(20, 1, 10_000_000),
  TYPING_LIMIT_WINDOW: int(10, 1, 3600),
  PRESENCE_TTL_SECONDS: int(45, 3, 3600),
  MAX_CONNECTIONS_PER_USER: int(20, 1, 100_000),
  WS_MAX_SUBSCRIPTIONS: int(32, 1, 100_000),
  MAX_SUBSCRIPTIONS_PER_USER: int(100, 1, 1_000_000),
  WS_MAX_IN_FLIGHT: int(16, 1, 100_000),
  WS_MAX_REFUSALS: int(100, 1, 1_000_000),
  WS_PING_INTERVAL: int(30, 1, 3600),
  WS_AUTH_TIMEOUT: int(10, 1, 300),
  PUBLIC_ORIGIN: originList,
  CORS_ORIGINS: originList,
  TRUST_PROXY: list.superRefine((v, ctx) => {
    const problem = trustProxyProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  LEGACY_MESSAGE_ENCODING: z.enum(["base64", "bytes"]).optional().default("base64"),
  SHUTDOWN_TIMEOUT: int(5, 1, 120),
  HTTP_KEEP_ALIVE_TIMEOUT: int(65, 1, 3600),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).optional().default("info"),
  WEB_DIR: z.string().optional(),
  METRICS: z.enum(["on", "off"]).optional().default("on"),
});

export type Env = z.infer<typeof envSchema>;

/** Every setting the server reads (the README's table and .env.example list each of them). */
export const SETTING_NAMES: readonly string[] = Object.keys(envSchema.shape);

export type Role = "all" | "gateway" | "auth" | "chat";

export interface UpstreamSettings {
  /** Seconds between DNS look-ups of upstream host names (each address is one upstream). */
  resolveSeconds: number;
  /** Seconds between GET /readyz checks of each upstream, and how long one may take. */
  healthIntervalSeconds: number;
  healthTimeoutMs: number;
  /** Seconds an upstream stays out of rotation after a connect error or a timeout. */
  ejectSeconds: number;
  /** Milliseconds to establish a connection to an upstream. */
  connectTimeoutMs: number;
  /** Milliseconds an upstream may take to start its answer (and between two chunks of it). */
  timeoutMs: number;
  /**
   * WebSockets piped to an upstream that failed this many health checks in a row (or whose address
   * left DNS) are closed with 1012, so their clients reconnect through the gateway to a live
   * replica and resume; 0 leaves them to the client's own keep-alive.
   */
  moveSocketsAfterChecks: number;
}

export interface ServerConfig {
  /** Which services this process runs: all three (the default) or one of the split roles. */
  role: Role;
  /**
   * Where the auth role answers (gateway and chat roles): one URL (several instances behind one
   * name) or several, tried in turn when one cannot be reached.
   */
  authUrls: string[];
  /** The chat replicas (gateway role). */
  chatUrls: string[];
  /** How the gateway finds, checks and times its upstreams (see gateway/upstreams.ts). */
  upstream: UpstreamSettings;
  /** PEM public key(s) accepted beside the JWKS fetched from AUTH_URL (gateway and chat roles). */
  jwtPublicKey: string | undefined;
  /** PEM public key(s) the issuer publishes beside its signing key: the previous or the next key of a rotation. */
  jwtExtraPublicKeys: string | undefined;
  /** How often the JWKS is fetched again, and the least time between two fetches (unknown kids). */
  jwksRefreshSeconds: number;
  jwksMinRefreshSeconds: number;
  /** How long one JWKS fetch or internal look-up at auth may take before the next URL is tried. */
  authTimeoutSeconds: number;
  /** What the split roles present to each other (SERVICE_SECRET[_FILE]); undefined for ROLE=all. */
  serviceSecret: string | undefined;
  /**
   * Where the limits that must hold across processes keep their counters (failed logins, sends,
   * typing): PostgreSQL or Redis for replicas, or this process.
   */
  rateLimitStore: "memory" | "postgres" | "redis";
  /** The per-IP and per-user request budgets: this process's memory, or rateLimitStore. */
  requestLimitStore: "memory" | "shared";
  /** How replicas tell each other what was stored: PostgreSQL NOTIFY or Redis pub/sub (undefined: one process). */
  bus: "postgres" | "redis" | undefined;
  redisUrl: string | undefined;
  /** A message crosses the Redis bus with its content up to this many bytes of JSON (ids beyond). */
  busPayloadMaxBytes: number;
  /** How often a Redis-bus replica checks its rooms' last seqs for a lost notice (0: never). */
  busCatchUpMs: number;
  /** What every Redis key and channel of this deployment starts with (several deployments may share one Redis). */
  redisKeyPrefix: string;
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  databasePoolMax: number;
  jwtPrivateKey: string | undefined;
  jwtIssuer: string;
  jwtAudience: string;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  /** Seconds a rotated refresh token may be presented again for the same successor; 0: never. */
  refreshReuseGrace: number;
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
  hashConcurrency: number;
  hashQueueMax: number;
  /** Hashes of one client IP at once, and how many more of its may wait. */
  hashPerIp: { concurrency: number; queue: number };
  rateLimit: { points: number; window: number };
  /** Calls per user per window, on every transport. */
  userRateLimit: { points: number; window: number };
  /** Calls of one user (or one anonymous IP) running at once in this process, and waiting. */
  callConcurrency: { perUser: number; queue: number };
  /** Calls in one tRPC HTTP batch or one WebSocket frame. */
  maxBatchCalls: number;
  loginFails: { perEmailIp: number; window: number; perIp: number; perIpWindow: number };
  registrations: { perIp: number; window: number };
  sendLimit: { points: number; window: number };
  maxMessageLength: number;
  maxBodyBytes: number;
  maxWsPayloadBytes: number;
  wsSendBufferMax: number;
  subscriberQueueMax: number;
  unreadCountMax: number;
  maxRoomsPerUser: number;
  typingTtlMs: number;
  typingLimit: { points: number; window: number };
  presenceTtlSeconds: number;
  maxConnectionsPerUser: number;
  /** Live subscriptions per tRPC socket, and per user over all sockets of this process. */
  wsMaxSubscriptions: number;
  maxSubscriptionsPerUser: number;
  /** Queries and mutations in flight on one tRPC socket. */
  wsMaxInFlight: number;
  /** Calls or frames refused on one tRPC socket per minute before the socket is closed (4429). */
  wsMaxRefusals: number;
  wsPingInterval: number;
  wsAuthTimeout: number;
  /**
   * The origins the web client is served from (PUBLIC_ORIGIN). Empty: this server's own loopback
   * origins, known once it listens (see gateway/origin.ts).
   */
  publicOrigins: string[];
  /** Further origins whose pages may call the API and open sockets (CORS_ORIGINS). */
  corsOrigins: string[];
  trustProxy: string[];
  legacyMessageEncoding: "base64" | "bytes";
  shutdownTimeout: number;
  /** Seconds an idle keep-alive connection stays open (longer than clients keep theirs). */
  httpKeepAliveTimeout: number;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  webDir: string | undefined;
  /** Serve Prometheus metrics at /metrics. */
  metrics: boolean;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const MIN_SECRET_LENGTH = 32;

/**
 * The split roles' shared secret, from SERVICE_SECRET or the file SERVICE_SECRET_FILE names (one
 * of them, so there is no doubt which is in force). ROLE=all has nobody to authenticate.
 */
function loadServiceSecret(e: Env, problems: string[]): string | undefined {
  if (e.ROLE === "all") return undefined;
  const inline = e.SERVICE_SECRET?.trim() || undefined;
  const file = e.SERVICE_SECRET_FILE?.trim() || undefined;
  if (inline && file) {
    problems.push("SERVICE_SECRET_FILE: set SERVICE_SECRET or SERVICE_SECRET_FILE, not both");
    return undefined;
  }
  let name = "SERVICE_SECRET";
  let secret = inline;
  if (file) {
    name = "SERVICE_SECRET_FILE";
    try {
      secret = readFileSync(file, "utf8").trim();
    } catch (err) {
      problems.push(`SERVICE_SECRET_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      return undefined;
    }
  }
  if (secret === undefined) {
    problems.push(
      `SERVICE_SECRET: the ${e.ROLE} role needs the secret the split services share (or SERVICE_SECRET_FILE); ` +
        "make one with: openssl rand -hex 32",
    );
  } else if (secret.length < MIN_SECRET_LENGTH) {
    problems.push(`${name}: the secret must be at least ${MIN_SECRET_LENGTH} characters (openssl rand -hex 32 makes one)`);
  } else if (secret.length > 1024 || !/^[\x21-\x7e]+$/.test(secret)) {
    // It travels in an HTTP header.
    problems.push(`${name}: the secret must be at most 1024 printable ASCII characters without spaces`);
  } else {
    return secret;
  }
  return undefined;
}

export function loadConfig(env: Record<string, string | undefined>): ServerConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  const e = parsed.data;
  const problems: string[] = [];
  if ((e.ROLE === "gateway" || e.ROLE === "chat") && e.AUTH_URL.length === 0) {
    problems.push(`AUTH_URL: the ${e.ROLE} role needs the auth service's URL (or several, comma-separated)`);
  }
  if (e.ROLE === "gateway" && e.CHAT_URLS.length === 0) problems.push("CHAT_URLS: the gateway role needs the chat replicas' URLs");
  if ((e.ROLE === "auth" || e.ROLE === "chat") && !e.DATABASE_URL) {
    problems.push(`DATABASE_URL: the ${e.ROLE} role shares PostgreSQL with the other processes`);
  }
  const bus = e.BUS ?? (e.DATABASE_URL ? "postgres" : undefined);
  if (bus === "postgres" && !e.DATABASE_URL) problems.push("BUS: postgres needs DATABASE_URL");
  if (bus === "redis" && !e.REDIS_URL) problems.push("BUS: redis needs REDIS_URL");
  const rateLimitStore =
    e.RATE_LIMIT_STORE ?? (e.ROLE === "all" ? "memory" : e.REDIS_URL ? "redis" : e.DATABASE_URL ? "postgres" : "memory");
  if (rateLimitStore === "postgres" && !e.DATABASE_URL) problems.push("RATE_LIMIT_STORE: postgres needs DATABASE_URL");
  if (rateLimitStore === "redis" && !e.REDIS_URL) problems.push("RATE_LIMIT_STORE: redis needs REDIS_URL");
  const serviceSecret = loadServiceSecret(e, problems);
  if (problems.length) throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
  return {
    role: e.ROLE,
    authUrls: e.AUTH_URL,
    chatUrls: e.CHAT_URLS,
    upstream: {
      resolveSeconds: e.UPSTREAM_RESOLVE_SECONDS,
      healthIntervalSeconds: e.UPSTREAM_HEALTH_INTERVAL_SECONDS,
      healthTimeoutMs: e.UPSTREAM_HEALTH_TIMEOUT_MS,
      ejectSeconds: e.UPSTREAM_EJECT_SECONDS,
      connectTimeoutMs: e.UPSTREAM_CONNECT_TIMEOUT_MS,
      timeoutMs: e.UPSTREAM_TIMEOUT_MS,
      moveSocketsAfterChecks: e.UPSTREAM_MOVE_SOCKETS_AFTER_CHECKS,
    },
    jwtPublicKey: e.JWT_PUBLIC_KEY?.trim() || undefined,
    jwtExtraPublicKeys: e.JWT_EXTRA_PUBLIC_KEYS?.trim() || undefined,
    jwksRefreshSeconds: e.JWKS_REFRESH_SECONDS,
    jwksMinRefreshSeconds: e.JWKS_MIN_REFRESH_SECONDS,
    authTimeoutSeconds: e.AUTH_TIMEOUT,
    serviceSecret,
    rateLimitStore,
    requestLimitStore: e.REQUEST_LIMIT_STORE,
    bus,
    redisUrl: e.REDIS_URL,
    busPayloadMaxBytes: e.BUS_PAYLOAD_MAX_BYTES,
    busCatchUpMs: e.BUS_CATCH_UP_MS,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    port: e.PORT,
    host: e.HOST,
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    jwtPrivateKey: e.JWT_PRIVATE_KEY?.trim() || undefined,
    jwtIssuer: e.JWT_ISSUER,
    jwtAudience: e.JWT_AUDIENCE,
    accessTokenTtl: e.ACCESS_TOKEN_TTL,
    refreshTokenTtl: e.REFRESH_TOKEN_TTL,
    refreshReuseGrace: e.REFRESH_REUSE_GRACE,
    argon2: { memoryCost: e.ARGON2_MEMORY_KIB, timeCost: e.ARGON2_TIME_COST, parallelism: e.ARGON2_PARALLELISM },
    hashConcurrency: e.HASH_CONCURRENCY,
    hashQueueMax: e.HASH_QUEUE_MAX,
    hashPerIp: { concurrency: e.HASH_CONCURRENCY_PER_IP, queue: e.HASH_QUEUE_PER_IP },
    rateLimit: { points: e.RATE_LIMIT_PER_IP, window: e.RATE_LIMIT_WINDOW },
    userRateLimit: { points: e.RATE_LIMIT_PER_USER, window: e.RATE_LIMIT_USER_WINDOW },
    callConcurrency: { perUser: e.CALL_CONCURRENCY_PER_USER, queue: e.CALL_QUEUE_PER_USER },
    maxBatchCalls: e.MAX_BATCH_CALLS,
    loginFails: {
      perEmailIp: e.LOGIN_FAILS_PER_EMAIL_IP,
      window: e.LOGIN_FAILS_WINDOW,
      perIp: e.LOGIN_FAILS_PER_IP,
      perIpWindow: e.LOGIN_FAILS_PER_IP_WINDOW,
    },
    registrations: { perIp: e.REGISTRATIONS_PER_IP, window: e.REGISTRATIONS_PER_IP_WINDOW },
    sendLimit: { points: e.SEND_LIMIT, window: e.SEND_LIMIT_WINDOW },
    maxMessageLength: e.MAX_MESSAGE_LENGTH,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxWsPayloadBytes: e.MAX_WS_PAYLOAD_BYTES,
    wsSendBufferMax: e.WS_SEND_BUFFER_MAX,
    subscriberQueueMax: e.SUBSCRIBER_QUEUE_MAX,
    unreadCountMax: e.UNREAD_COUNT_MAX,
    maxRoomsPerUser: e.MAX_ROOMS_PER_USER,
    typingTtlMs: e.TYPING_TTL_MS,
    typingLimit: { points: e.TYPING_LIMIT, window: e.TYPING_LIMIT_WINDOW },
    presenceTtlSeconds: e.PRESENCE_TTL_SECONDS,
    maxConnectionsPerUser: e.MAX_CONNECTIONS_PER_USER,
    wsMaxSubscriptions: e.WS_MAX_SUBSCRIPTIONS,
    maxSubscriptionsPerUser: e.MAX_SUBSCRIPTIONS_PER_USER,
    wsMaxInFlight: e.WS_MAX_IN_FLIGHT,
    wsMaxRefusals: e.WS_MAX_REFUSALS,
    wsPingInterval: e.WS_PING_INTERVAL,
    wsAuthTimeout: e.WS_AUTH_TIMEOUT,
    publicOrigins: e.PUBLIC_ORIGIN,
    corsOrigins: e.CORS_ORIGINS,
    trustProxy: e.TRUST_PROXY,
    legacyMessageEncoding: e.LEGACY_MESSAGE_ENCODING,
    shutdownTimeout: e.SHUTDOWN_TIMEOUT,
    httpKeepAliveTimeout: e.HTTP_KEEP_ALIVE_TIMEOUT,
    logLevel: e.LOG_LEVEL,
    webDir: e.WEB_DIR,
    metrics: e.METRICS === "on",
  };
}
