// The main worker: scenario, quota and tenant workflows and the activities that need no
// particular Docker host.
import { Client, Connection } from '@temporalio/client';
import { createMainWorker } from './workers.ts';
import { ensureReconcileSchedule } from './reconcile-schedule.ts';
import { startHostWatch } from './host-watch.ts';
import { runWorkerProcess } from './run.ts';
import { readinessChecks } from '../infra/readiness.ts';
import { SEARCH_ATTRIBUTES } from '../contract/queues.ts';
import { openKeyStore } from '../infra/signer.ts';
import { openArtifactStore } from '../infra/artifact-store.ts';
import type { KeyStore, Signer } from '../infra/keys.ts';

await runWorkerProcess<{ store: KeyStore; signer: Signer }>('arbiter-main-worker', [], async (config, connection, log, signing) => {
  const client = new Client({ connection: await Connection.connect({ address: config.temporalAddress }), namespace: config.temporalNamespace });
  const { worker, policySha256, keyId } = await createMainWorker({ config, connection, client, signing });
  log.info({ policySha256, keyId }, 'policy bundle and signing key loaded');
  const schedule = await ensureReconcileSchedule(client);
  log.info(schedule, schedule.created ? 'reconciler schedule created' : 'reconciler schedule present');
  // Whatever createMainWorker loaded (policy, signing key) is already known good; these say whether it still is.
  const checks = readinessChecks({
    config,
    temporal: connection,
    policy: { sha256: policySha256 },
    searchAttributes: { connection, namespace: config.temporalNamespace, wanted: SEARCH_ATTRIBUTES },
  });
  const watch = startHostWatch({ client, store: openArtifactStore(config), hosts: config.hosts, lostAfterMs: config.hostLostSeconds * 1000, log });
  return { worker, checks, run: () => worker.run().finally(() => watch.stop()).finally(() => Promise.all([client.connection.close(), signing.store.close()])) };
}, undefined, async (config) => {
  // A token that is missing, or refuses the PIN, stops the worker here, before it takes any work.
  const store = await openKeyStore(config);
  try {
    return { store, signer: await store.signer() };
  } catch (err) {
    await store.close();
    throw err;
  }
});
