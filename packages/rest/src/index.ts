export { createRestHandler, type RestDeps, type RequestInfo } from "./routes";
export { sendEnvelope, type Envelope } from "./envelope";
export {
  createLegacySocketServer,
  CLOSE as LEGACY_CLOSE,
  type LegacySocketConfig,
  type LegacySocketDeps,
  type SocketRegistry,
} from "./legacy-socket";
export { buildOpenApi } from "./openapi";
export { backlog, corkPerTurn } from "./cork";
