export * from "./schemas.js";
export * from "./types.js";
export * from "./errors.js";
