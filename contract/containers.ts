// The names of a scenario's containers on its host: what the launch creates, the access server
// resolves, teardown and the reconciler remove. Deterministic, so that a retried launch adopts
// what an earlier attempt created instead of creating a second one.

export function scenarioContainerName(scenarioId: string): string {
  return `arbiter-${scenarioId}`;
}
export function scorerContainerName(scenarioId: string): string {
  return `arbiter-${scenarioId}-scorer`;
}
/** The namespace holder of a multi-service scenario. */
export function holderContainerName(scenarioId: string): string {
  return `arbiter-${scenarioId}-pod`;
}
/** The main service keeps the one-container name, so single-service scenarios are what they were. */
export function serviceContainerName(scenarioId: string, service: { name: string; main: boolean }): string {
  return service.main ? scenarioContainerName(scenarioId) : `${scenarioContainerName(scenarioId)}-svc-${service.name}`;
}
