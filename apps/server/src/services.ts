import { RateLimiterMemory } from "rate-limiter-flexible";
import {
  AccessTokens,
  AuthService,
  InProcessBus,
  LoginGuard,
  PasswordHasher,
  PgBus,
  RoomHub,
  RoomService,
  type AuthConfig,
  type EventBus,
} from "@anonchat/core";
import { createPgNotifier, migrateToLatest, openDatabase, type DatabaseHandle } from "@anonchat/db";
import type { ServerConfig } from "./config";
import type { Logger } from "./logger";
import { loadSigningKeys } from "./keys";

export interface Services {
  database: DatabaseHandle;
  bus: EventBus;
  hub: RoomHub;
  auth: AuthService;
  rooms: RoomService;
  close(): Promise<void>;
}

/** The composition root of the domain: database, bus, hub and services, wired from config. */
export async function createServices(config: ServerConfig, log: Logger): Promise<Services> {
  const database = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: config.databasePoolMax,
    onPoolError: (err) => log.warn("database connection error", { err: err.message }),
  });
  const applied = await migrateToLatest(database.db);
  if (applied.length) log.info("migrations applied", { applied });

  const keys = await loadSigningKeys(config.jwtPrivateKey, config.dataDir);
  const authConfig: AuthConfig = {
    signingKey: keys.privateKey,
    verifyKey: keys.publicKey,
    keyId: keys.keyId,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    accessTokenTtlSeconds: config.accessTokenTtl,
    refreshTokenTtlSeconds: config.refreshTokenTtl,
    argon2: config.argon2,
    maxConcurrentHashes: config.hashConcurrency,
    maxQueuedHashes: config.hashQueueMax,
  };

  // One process on PGlite needs nothing more than an in-process bus; on PostgreSQL several
  // processes may serve one room, so events also travel by LISTEN/NOTIFY.
  let pgBus: PgBus | undefined;
  if (database.pool && config.databaseUrl) {
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
  const hub = new RoomHub(database.db, bus, (err) => log.warn("room feed error", { err }));
  if (pgBus) {
    pgBus.onResync(() => hub.resync());
    await pgBus.start();
  }
  const auth = new AuthService({
    db: database.db,
    config: authConfig,
    hasher: new PasswordHasher(authConfig),
    tokens: new AccessTokens(authConfig),
    loginGuard: new LoginGuard(
      new RateLimiterMemory({
        keyPrefix: "login_pair",
        points: config.loginFails.perEmailIp,
        duration: config.loginFails.window,
      }),
      new RateLimiterMemory({
        keyPrefix: "login_ip",
        points: config.loginFails.perIp,
        duration: config.loginFails.perIpWindow,
      }),
    ),
    bus,
  });
  const rooms = new RoomService({
    db: database.db,
    bus,
    hub,
    config: { maxMessageLength: config.maxMessageLength, subscriberQueueMax: config.subscriberQueueMax },
    sendLimiter: new RateLimiterMemory({
      keyPrefix: "send",
      points: config.sendLimit.points,
      duration: config.sendLimit.window,
    }),
  });

  return {
    database,
    bus,
    hub,
    auth,
    rooms,
    async close() {
      hub.close();
      await bus.close();
      await database.close();
    },
  };
}
