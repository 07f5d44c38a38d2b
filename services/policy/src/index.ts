// The public surface of @hal/policy: the service module the supervisor composes.
export { POLICY_CONSUMER } from './consumer-position.ts';
export { createPolicy, type PolicyDeps, type PolicyService } from './policy-service.ts';
export { globMatches, routeEvent, severityOf } from './router.ts';
