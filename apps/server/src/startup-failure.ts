import { DatabaseConnectError } from "@anonchat/db";
import { ConfigError } from "./config.js";
import type { Logger } from "./logger.js";

/** A reason the process cannot start, as one JSON log line: what failed and why, never a secret. */
export function logStartupFailure(log: Logger, err: unknown): void {
  if (err instanceof ConfigError) log.error("invalid configuration", { error: err.message });
  else if (err instanceof DatabaseConnectError) {
    log.error("could not connect to the database", { error: err.message, host: err.host, port: err.port, code: err.code });
  } else log.error("failed to start", { err });
}
