import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRedis, type RateLimiterAbstract } from "rate-limiter-flexible";
import {
  AccessTokens,
  AuthService,
  InProcessBus,
  LoginGuard,
  PasswordHasher,
  PgBus,
  PresenceTracker,
  RedisBus,
  RoomHub,
  RoomService,
  type AuthApi,
  type AuthConfig,
  type EventBus,
  type SessionEvent,
} from "@anonchat/core";
import { createPgNotifier, migrateToLatest, openDatabase, type DatabaseHandle } from "@anonchat/db";
import type { ServerConfig } from "./config.js";
import { loadSigningKeys, publicKeysFromPem, RemoteKeySet, type TokenKeys } from "./keys.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import type { SecurityLog } from "./security-log.js";
import { createRemoteAuth } from "./remote-auth.js";

export interface LimiterOptions {
  keyPrefix: string;
  points: number;
  duration: number;
}

/**
 * What one process holds, by role: all three services (all), users and sessions (auth), rooms
 * and messages with auth reached over the network (chat), or only what the edge needs (gateway).
 */
export interface Services {
  database: DatabaseHandle | undefined;
  keys: TokenKeys;
  tokens: AccessTokens;
  bus: EventBus;
  hub: RoomHub | undefined;
  auth: AuthApi | undefined;
  rooms: RoomService | undefined;
  /** A rate limiter for a limit that must hold across processes (RATE_LIMIT_STORE). */
  limiter(opts: LimiterOptions): RateLimiterAbstract;
  /** A per-IP or per-user request budget (REQUEST_LIMIT_STORE: this process's memory by default). */
  requestLimiter(opts: LimiterOptions): RateLimiterAbstract;
  close(): Promise<void>;
}

export async function createServices(config: ServerConfig, log: Logger, metrics: Metrics, security: SecurityLog): Promise<Services> {
  const { role } = config;
  // The gateway holds only request budgets: it needs PostgreSQL only when they are shared there.
  const needsDatabase = role !== "gateway" || (config.requestLimitStore === "shared" && config.rateLimitStore === "postgres");
  const database = needsDatabase
    ? await openDatabase({
        url: config.databaseUrl,
        dataDir: config.dataDir,
        poolMax: config.databasePoolMax,
        onPoolError: (err) => log.warn("database connection error", { err: err.message }),
      })
    : undefined;
  if (database) {
    // Several processes may start at once: the migrator serialises them with a lock.
    const applied = await migrateToLatest(database.db);
    if (applied.length) log.info("migrations applied", { applied });
  }

  // The issuer holds its keys; every other role fetches them from auth in the background and
  // starts without waiting (it is not ready, and refuses tokens, until it holds a key).
  let keys: TokenKeys;
  if (role === "all" || role === "auth") {
    keys = await loadSigningKeys(config.jwtPrivateKey, config.jwtExtraPublicKeys, config.dataDir);
  } else {
    const remote = new RemoteKeySet({
      urls: config.authUrls,
      fixed: config.jwtPublicKey ? publicKeysFromPem(config.jwtPublicKey, "JWT_PUBLIC_KEY") : new Map(),
      refreshMs: config.jwksRefreshSeconds * 1000,
      minRefreshMs: config.jwksMinRefreshSeconds * 1000,
      timeoutMs: config.authTimeoutSeconds * 1000,
      log,
    });
    remote.start();
    keys = { privateKey: undefined, keyId: undefined, keySet: remote };
  }
  const authConfig: AuthConfig = {
    signingKey: keys.privateKey,
    keyId: keys.keyId,
    verifyKeys: keys.keySet,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    accessTokenTtlSeconds: config.accessTokenTtl,
    refreshTokenTtlSeconds: config.refreshTokenTtl,
    refreshReuseGraceSeconds: config.refreshReuseGrace,
    argon2: config.argon2,
    maxConcurrentHashes: config.hashConcurrency,
    maxQueuedHashes: config.hashQueueMax,
    maxConcurrentHashesPerClient: config.hashPerIp.concurrency,
    maxQueuedHashesPerClient: config.hashPerIp.queue,
  };
  const tokens = new AccessTokens(authConfig);

  // Shared counters: a store outage falls back to this process's memory (insuranceLimiter), so
  // a limit is briefly per process instead of every request failing.
  let limiterRedis: Redis | undefined;
  if (config.rateLimitStore === "redis") {
    limiterRedis = new Redis(config.redisUrl as string, {
      // rate-limiter-flexible's advice: fail a call at once while Redis is away (the insurance
      // limiter answers), instead of queueing it until a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    limiterRedis.on("error", (err: Error) => log.warn("rate-limit store (Redis) error", { err: err.message }));
  }
  const limiter = (opts: LimiterOptions): RateLimiterAbstract => {
    const insuranceLimiter = new RateLimiterMemory(opts);
    if (config.rateLimitStore === "redis" && limiterRedis) {
      return new RateLimiterRedis({ ...opts, keyPrefix: `${config.redisKeyPrefix}rl:${opts.keyPrefix}`, storeClient: limiterRedis, insuranceLimiter });
    }
    if (config.rateLimitStore === "postgres" && database?.pool) {
      return new RateLimiterPostgres({ ...opts, storeClient: database.pool, tableName: "rate_limits", tableCreated: true, insuranceLimiter });
    }
    return insuranceLimiter;
  };
  const requestLimiter = (opts: LimiterOptions): RateLimiterAbstract =>
    config.requestLimitStore === "shared" ? limiter(opts) : new RateLimiterMemory(opts);

  // One process on PGlite needs nothing more than an in-process bus; on PostgreSQL several
  // processes may serve one room, so events also travel by LISTEN/NOTIFY, or by Redis pub/sub.
  let pgBus: PgBus | undefined;
  let redisBus: RedisBus | undefined;
  if (config.bus === "redis" && role !== "gateway") {
    redisBus = new RedisBus({
      url: config.redisUrl as string,
      payloadMaxBytes: config.busPayloadMaxBytes,
      channel: `${config.redisKeyPrefix}events`,
      onError: (err) => log.warn("event bus (Redis) error", { err: err.message }),
    });
  } else if (config.bus === "postgres" && database?.pool && config.databaseUrl && role !== "gateway") {
    pgBus = new PgBus(
      createPgNotifier({
        url: config.databaseUrl,
        pool: database.pool,
        channel: "anonchat_events",
        onError: (err) => log.warn("event listener connection lost", { err: err.message }),
      }),
    );
  }
  const bus: EventBus = pgBus ?? redisBus ?? new InProcessBus();

  let auth: AuthApi | undefined;
  if (database && (role === "all" || role === "auth")) {
    auth = new AuthService({
      db: database.db,
      config: authConfig,
      hasher: new PasswordHasher(authConfig),
      tokens,
      loginGuard: new LoginGuard(
        limiter({ keyPrefix: "login_pair", points: config.loginFails.perEmailIp, duration: config.loginFails.window }),
        limiter({ keyPrefix: "login_ip", points: config.loginFails.perIp, duration: config.loginFails.perIpWindow }),
        (e) => security.auth(e),
      ),
      registrations: limiter({ keyPrefix: "register_ip", points: config.registrations.perIp, duration: config.registrations.window }),
      onAuthEvent: (e) => security.auth(e),
      bus,
      onSessionEvent: (e) => security.session(e),
    });
  } else if (role === "chat") {
    auth = createRemoteAuth(config.authUrls, tokens, config.serviceSecret as string, config.authTimeoutSeconds * 1000, log);
  }

  let hub: RoomHub | undefined;
  let rooms: RoomService | undefined;
  let presenceTracker: PresenceTracker | undefined;
  if (database && (role === "all" || role === "chat")) {
    hub = new RoomHub(database.db, bus, {
      onError: (err) => log.warn("room feed error", { err }),
      presenceTtlSeconds: config.presenceTtlSeconds,
      // Redis pub/sub may drop a notice while connected (NOTIFY does not): check periodically.
      catchUpIntervalMs: redisBus ? config.busCatchUpMs : 0,
      hooks: {
        onDeliver: (message, subscribers) => {
          metrics.messagesOut.inc({}, subscribers);
          metrics.deliveryLatency.observe({}, Math.max(0, Date.now() - Date.parse(message.createdAt)) / 1000);
        },
        onReplayPage: (source) => metrics.replayPages.inc({ source }),
      },
    });
    // Events that carry the message object and did not come from another process were stored here.
    bus.subscribe((e) => {
      if (e.type === "message" && !e.remote && e.event?.kind === "message" && e.event.message.kind === "text") metrics.messagesIn.inc();
    });
    presenceTracker = new PresenceTracker(database.db, bus, {
      ttlSeconds: config.presenceTtlSeconds,
      onError: (err) => log.warn("presence update failed", { err }),
    });
    // The embedded database has one process by construction: whoever it showed online before a
    // restart is not online now.
    if (database.kind === "pglite") await presenceTracker.forgetEarlierRuns();
    rooms = new RoomService({
      db: database.db,
      bus,
      hub,
      presence: presenceTracker,
      config: {
        maxMessageLength: config.maxMessageLength,
        subscriberQueueMax: config.subscriberQueueMax,
        unreadCountMax: config.unreadCountMax,
        maxRoomsPerUser: config.maxRoomsPerUser,
        typingTtlMs: config.typingTtlMs,
      },
      onPublishError: (err, event) => log.warn("event bus publish failed after commit", { event, err: err.message }),
      sendLimiter: limiter({ keyPrefix: "send", points: config.sendLimit.points, duration: config.sendLimit.window }),
      typingLimiter: limiter({ keyPrefix: "typing", points: config.typingLimit.points, duration: config.typingLimit.window }),
    });
  }
  if (pgBus) {
    const h = hub;
    if (h) pgBus.onResync(() => h.resync());
    await pgBus.start();
  }
  if (redisBus) {
    const h = hub;
    if (h) redisBus.onResync(() => h.resync());
    await redisBus.start();
  }

  return {
    database,
    keys,
    tokens,
    bus,
    hub,
    auth,
    rooms,
    limiter,
    requestLimiter,
    async close() {
      keys.keySet.close();
      await presenceTracker?.close();
      hub?.close();
      await bus.close();
      limiterRedis?.disconnect();
      await database?.close();
    },
  };
}
