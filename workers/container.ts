// The container worker: one per Docker host, on that host's own task queue, with the monitor
// that tells workflows when their container stopped on its own.
import Docker from 'dockerode';
import { Client, Connection } from '@temporalio/client';
import { readinessChecks } from '../infra/readiness.ts';
import { createHostWorker } from './workers.ts';
import { runWorkerProcess } from './run.ts';

await runWorkerProcess('arbiter-container-worker', [], async (config, connection, log) => {
  log.info({ hostId: config.hostId, docker: config.dockerSocket }, 'container host');
  const client = new Client({ connection: await Connection.connect({ address: config.temporalAddress }), namespace: config.temporalNamespace });
  const docker = new Docker({ socketPath: config.dockerSocket });
  const host = await createHostWorker({ config, connection, client, docker, log });
  const checks = readinessChecks({ config, temporal: connection, docker, signingKey: false });
  return { worker: host.worker, checks, details: () => ({ pools: host.pools.status() }), run: () => host.run().finally(() => client.connection.close()) };
}, { httpPort: 9092, sdkMetricsPort: 9192 });
