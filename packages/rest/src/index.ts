export { createRestHandler, type RestDeps, type RequestInfo } from "./routes.js";
export { sendEnvelope, type Envelope } from "./envelope.js";
export {
  createLegacySocketServer,
  CLOSE as LEGACY_CLOSE,
  type LegacySocketConfig,
  type LegacySocketDeps,
  type SocketRegistry,
} from "./legacy-socket.js";
export { buildOpenApi } from "./openapi.js";
export { backlog, corkPerTurn } from "./cork.js";
