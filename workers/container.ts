// The container worker: one per Docker host, on that host's own task queue.
import { createHostWorker } from './workers.ts';
import { runWorkerProcess } from './run.ts';

await runWorkerProcess('arbiter-container-worker', ['COMPLETION_HMAC_SECRET'], async (config, connection, log) => {
  log.info({ hostId: config.hostId, docker: config.dockerSocket }, 'container host');
  return createHostWorker({ config, connection });
});
