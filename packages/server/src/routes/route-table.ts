import type { AnyRoute } from '../http/route-spec.js';
import { approvalLinkRoutes } from './approval-link-routes.js';
import { approvalRoutes } from './approval-routes.js';
import { auditRoutes } from './audit-routes.js';
import { authRoutes } from './auth-routes.js';
import { budgetRoutes } from './budget-routes.js';
import { callRoutes } from './call-routes.js';
import { eventRoutes } from './event-routes.js';
import { grantRoutes } from './grant-routes.js';
import { keyRoutes } from './key-routes.js';
import { policyRoutes } from './policy-routes.js';
import { sessionRoutes } from './session-routes.js';
import { systemRoutes } from './system-routes.js';
import { taskRoutes } from './task-routes.js';
import { usageRoutes } from './usage-routes.js';

/**
 * Every endpoint of the API, in one table: the server registers these, the OpenAPI document describes
 * these, and the role-matrix test walks these. Approvals, grants and budgets add their groups here.
 */
export const ROUTES: readonly AnyRoute[] = [
  ...systemRoutes,
  ...authRoutes,
  ...callRoutes,
  ...sessionRoutes,
  ...budgetRoutes,
  ...usageRoutes,
  ...approvalRoutes,
  ...approvalLinkRoutes,
  ...grantRoutes,
  ...auditRoutes,
  ...policyRoutes,
  ...keyRoutes,
  ...eventRoutes,
  ...taskRoutes,
];
