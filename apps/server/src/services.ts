import { RateLimiterMemory, RateLimiterPostgres, type RateLimiterAbstract } from "rate-limiter-flexible";
import {
  AccessTokens,
  AuthService,
  InProcessBus,
  LoginGuard,
  PasswordHasher,
  PgBus,
  PresenceTracker,
  RoomHub,
  RoomService,
  type AuthApi,
  type AuthConfig,
  type EventBus,
  type SessionEvent,
} from "@anonchat/core";
import { createPgNotifier, migrateToLatest, openDatabase, type DatabaseHandle } from "@anonchat/db";
import type { ServerConfig } from "./config";
import { loadSigningKeys, publicKeysFromPem, RemoteKeySet, type TokenKeys } from "./keys";
import type { Logger } from "./logger";
import type { Metrics } from "./metrics";
import type { SecurityLog } from "./security-log";
import { createRemoteAuth } from "./remote-auth";

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
  /** A rate limiter whose counters live where config says (PostgreSQL for replicas). */
  limiter(opts: LimiterOptions): RateLimiterAbstract;
  close(): Promise<void>;
}

export async function createServices(config: ServerConfig, log: Logger, metrics: Metrics, security: SecurityLog): Promise<Services> {
  const { role } = config;
  const needsDatabase = role !== "gateway" || config.rateLimitStore === "postgres";
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

  const limiter = (opts: LimiterOptions): RateLimiterAbstract =>
    config.rateLimitStore === "postgres" && database?.pool
      ? new RateLimiterPostgres({ ...opts, storeClient: database.pool, tableName: "rate_limits", tableCreated: true })
      : new RateLimiterMemory(opts);

  // One process on PGlite needs nothing more than an in-process bus; on PostgreSQL several
  // processes may serve one room, so events also travel by LISTEN/NOTIFY.
  let pgBus: PgBus | undefined;
  if (database?.pool && config.databaseUrl && role !== "gateway") {
    pgBus = new PgBus(
      createPgNotifier({
        url: config.databaseUrl,
        pool: database.pool,
        channel: "anonchat_events",
        onError: (err) => log.warn("event listener connection lost", { err: err.message }),
      }),
    );
  }
  const bus: EventBus = pgBus ?? new InProcessBus();

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
      hooks: {
        onDeliver: (message, subscribers) => {
          metrics.messagesOut.inc({}, subscribers);
          metrics.deliveryLatency.observe({}, Math.max(0, Date.now() - Date.parse(message.createdAt)) / 1000);
        },
        onReplayPage: (source) => metrics.replayPages.inc({ source }),
      },
    });
    // Events that carry the message object were stored by this process.
    bus.subscribe((e) => {
      if (e.type === "message" && e.event?.kind === "message" && e.event.message.kind === "text") metrics.messagesIn.inc();
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
      sendLimiter: limiter({ keyPrefix: "send", points: config.sendLimit.points, duration: config.sendLimit.window }),
      typingLimiter: limiter({ keyPrefix: "typing", points: config.typingLimit.points, duration: config.typingLimit.window }),
    });
  }
  if (pgBus) {
    const h = hub;
    if (h) pgBus.onResync(() => h.resync());
    await pgBus.start();
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
    async close() {
      keys.keySet.close();
      await presenceTracker?.close();
      hub?.close();
      await bus.close();
      await database?.close();
    },
  };
}
