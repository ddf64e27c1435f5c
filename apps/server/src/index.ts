export { loadConfig, ConfigError, SETTING_NAMES, type ServerConfig } from "./config";
export { startServer, type RunningServer } from "./server";
export { createLogger, type Logger } from "./logger";
