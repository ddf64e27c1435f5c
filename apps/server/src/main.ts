import { ConfigError, loadConfig, type ServerConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { startServer } from "./server.js";
import { logStartupFailure } from "./startup-failure.js";

/** The process entry: env once, start, and a graceful exit 0 on SIGTERM/SIGINT. */
async function main() {
  let config: ServerConfig;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      logStartupFailure(createLogger("info"), e);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(config.logLevel);
  let server;
  try {
    server = await startServer(config, log);
  } catch (err) {
    logStartupFailure(log, err);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    const force = setTimeout(() => {
      log.error("shutdown timed out");
      process.exit(1);
    }, (config.shutdownTimeout + 3) * 1000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err) => {
        log.error("shutdown failed", { err });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("unhandledRejection", (err) => log.error("unhandled rejection", { err }));
}

main().catch((err) => {
  logStartupFailure(createLogger("info"), err);
  process.exit(1);
});
