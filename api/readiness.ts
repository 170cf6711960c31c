// The API's readiness checks live in infra/readiness.ts, shared with the workers' ops servers.
export { engineIsolation, readinessChecks } from '../infra/readiness.ts';
