export { API_VERSION, buildApp } from './app.js';
export { actorOf, type Principal } from './auth/principal.js';
export {
  resolveServerConfig,
  type ServerConfig,
  type ServerConfigInput,
  ServerConfigSchema,
} from './config/server-config.js';
export { dashboardDir } from './http/dashboard-assets.js';
export { errorResponse, HTTP_STATUS } from './http/error-status.js';
export { openApiDocument } from './http/openapi-document.js';
export type { AnyRoute, RouteSpec } from './http/route-spec.js';
export { createServerLogger, type ServerLogger } from './log/server-logger.js';
export { ROUTES } from './routes/route-table.js';
export type { ServerContext } from './server-context.js';
export { EXAMPLE_POLICY, type StartOptions, startServer, type WardenServer } from './warden-server.js';
