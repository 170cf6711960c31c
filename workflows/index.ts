// The workflow bundle's entry point: every workflow type the workers register.
export { scenarioWorkflow } from './scenario.ts';
