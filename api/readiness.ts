// The API's readiness checks live in lib/readiness.ts, shared with the workers' ops servers.
export { engineIsolation, readinessChecks } from '../lib/readiness.ts';
