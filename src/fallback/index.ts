/**
 * portcullis/fallback: legacy transports, opt-in and never in the core bundle.
 *
 * - window.name, for a peer window that cannot use postMessage:
 *   {@link windowNameClient} (caller), {@link serveWindowName} (responder
 *   page) and {@link connectWithFallback} (postMessage first, window.name
 *   only when needed).
 * - JSONP, for a server endpoint on another origin without CORS:
 *   {@link jsonpClient} (browser) and {@link jsonpHandler} (Node's `http`).
 *   A JSONP response is readable by ANY origin that can include the script:
 *   never serve secrets or per-user data over it.
 *
 * All of them take the same contracts as `connect()`, return the same typed
 * proxy, validate with the same schemas and fail with the same error classes.
 * Nothing here touches a global at module load.
 */
export type {
  FallbackConnection,
  FallbackConnectOptions,
  FallbackTransport,
} from './connect-fallback.js'
export { connectWithFallback } from './connect-fallback.js'
export type { JsonpClientOptions } from './jsonp-client.js'
export { jsonpClient } from './jsonp-client.js'
export type { JsonpHandlerOptions, JsonpRejection, JsonpRequest, JsonpResponse } from './jsonp-server.js'
export { jsonpHandler } from './jsonp-server.js'
export type {
  ServeWindowNameOptions,
  WindowNameClient,
  WindowNameClientOptions,
  WindowNameRejection,
  WindowNameRejectionReason,
  WindowNameServeStatus,
} from './window-name.js'
export { serveWindowName, windowNameClient } from './window-name.js'
