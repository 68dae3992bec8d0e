export type { GatewayTracing, ToolCallTrace, UpstreamHop } from './call-trace.js';
export {
  type GatewayConfig,
  type GatewayConfigInput,
  GatewayConfigSchema,
  loadGatewayConfig,
  resolveGatewayConfig,
  type UpstreamConfig,
} from './gateway-config.js';
export { createGatewayServer, type GatewayOptions } from './gateway-server.js';
export { type McpCaller, McpHttpGateway } from './http-gateway.js';
export { type StdioGateway, startStdioGateway } from './stdio-gateway.js';
export { exposedName, policyName, splitExposed } from './tool-names.js';
export { UpstreamPool } from './upstream-pool.js';
