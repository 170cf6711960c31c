// The main worker: scenario workflows and the activities that need no particular Docker host.
import { createMainWorker } from './workers.ts';
import { runWorkerProcess } from './run.ts';

await runWorkerProcess('arbiter-main-worker', [], async (config, connection, log) => {
  const { worker, policySha256, keyId } = await createMainWorker({ config, connection });
  log.info({ policySha256, keyId }, 'policy bundle and signing key loaded');
  return { worker, run: () => worker.run() };
});
