export { loadConfig, ConfigError, SETTING_NAMES, type ServerConfig } from "./config.js";
export { startServer, type RunningServer } from "./server.js";
export { createLogger, type Logger } from "./logger.js";
