// Records real workflow histories for the replay test (test/replay/replay.test.ts): one run of
// each path a scenario can take, plus the quota and tenant entities, on the real stack. Re-record
// only when a workflow change is meant to be incompatible and is shipped behind versioning: the
// new recordings go into a folder of their own, next to the older ones, which must keep replaying
// (workflows started before the change are still running somewhere).
//   node --import tsx scripts/record-histories.ts <n>-<what-changed>   (e.g. 3-retention-timer)
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import proto from '@temporalio/proto';

const { temporal } = proto;
import { mintToken } from '../infra/tokens.ts';
import { randomUUID } from 'node:crypto';
import { quotaWorkflowId, tenantWorkflowId } from '../lib/entity-ids.ts';
import { hostLostSignal, scenarioIdFromJti } from '../contract/scenario.ts';
import { containersOf, docker, waitFor } from '../test/support/harness.ts';
import { startStack } from '../test/support/stack.ts';

const era = process.argv[2];
if (!era || !/^\d+-[a-z0-9-]+$/.test(era)) {
  console.error('usage: node --import tsx scripts/record-histories.ts <n>-<what-changed>, e.g. 3-retention-timer');
  process.exit(2);
}
const OUT = fileURLToPath(new URL(`../test/replay/histories/${era}`, import.meta.url));
if (existsSync(OUT)) {
  console.error(`${OUT} exists: recorded histories are never overwritten, name the new set`);
  process.exit(2);
}
mkdirSync(OUT, { recursive: true });
const stack = await startStack();
try {
  const save = async (name: string, workflowId: string) => {
    const history = await stack.env.client.workflow.getHandle(workflowId).fetchHistory();
    // Binary protobuf: exact, and free of the JSON conversion's protobufjs instance pitfalls.
    writeFileSync(join(OUT, `${name}.pb`), temporal.api.history.v1.History.encode(history).finish());
    console.log(`recorded ${name} (${history.events?.length ?? 0} events)`);
  };
  const spawn = async (sat: string) => (await stack.call('POST', '/api/spawn', sat, {})).json!.scenarioId as string;
  const status = async (id: string) => (await stack.call('GET', `/api/scenarios/${id}`, await stack.operator())).json?.status;
  const until = (id: string, s: string) => waitFor(`${id} ${s}`, async () => ((await status(id)) === s ? true : undefined), 90_000);

  // scored: SAT through an ET (records the tenant grant), completion by the scenario host
  const scoredSat = await stack.sat(await stack.et('rec', 'rec-tenant', 'pro'));
  const scored = await spawn(scoredSat);
  await until(scored, 'running');
  const token = await stack.completionToken(scored);
  await stack.call('POST', `/api/scenarios/${scored}/complete`, token, { outcome: 'success', submission: { answer: 'hello' } });
  await until(scored, 'scored');
  await save('scenario-scored', scored);

  // denied by policy
  const deniedJti = randomUUID();
  await stack.call('POST', '/api/spawn', await stack.satFor({ sub: 'rec', tenant: 'rec-tenant', track: 'web', jti: deniedJti }), {});
  await until(scenarioIdFromJti(deniedJti), 'denied');
  await save('scenario-denied', scenarioIdFromJti(deniedJti));

  // cancelled while running
  const cancelSat = await stack.satFor({ sub: 'rec2', tenant: 'rec-tenant' });
  const cancelled = await spawn(cancelSat);
  await until(cancelled, 'running');
  await stack.call('POST', `/api/scenarios/${cancelled}/cancel`, cancelSat);
  await until(cancelled, 'cancelled');
  await save('scenario-cancelled', cancelled);

  // container exited on its own
  const exitedSat = await stack.satFor({ sub: 'rec3', tenant: 'rec-tenant' });
  const exited = await spawn(exitedSat);
  await until(exited, 'running');
  for (const k of await containersOf(exited)) await docker.getContainer(k.Id).kill({ signal: 'SIGKILL' });
  await until(exited, 'failed');
  await save('scenario-exited', exited);

  // a pod (web-recon: a namespace holder and two services), scored
  const podSat = await stack.sat(await stack.et('rec4', 'rec-tenant', 'pro'), 'web-recon', 'web');
  const pod = await spawn(podSat);
  await until(pod, 'running');
  await stack.call('POST', `/api/scenarios/${pod}/complete`, await stack.completionToken(pod), { outcome: 'success', submission: {} });
  await until(pod, 'scored');
  await save('scenario-pod-scored', pod);

  // a pod whose required service stopped: environment_reset
  const resetSat = await stack.sat(await stack.et('rec5', 'rec-tenant', 'pro'), 'web-recon', 'web');
  const reset = await spawn(resetSat);
  await until(reset, 'running');
  for (const k of await containersOf(reset)) if (k.Labels['io.arbiter.service'] === 'target') await docker.getContainer(k.Id).kill({ signal: 'SIGKILL' });
  await until(reset, 'failed');
  await save('scenario-pod-reset', reset);

  // its host lost while it ran: the signal the main worker's host watch sends (workers/host-watch.ts),
  // sent here directly (the stack's host stays up, so its container is removed by hand after)
  const lostSat = await stack.satFor({ sub: 'rec6', tenant: 'rec-tenant' });
  const lost = await spawn(lostSat);
  await until(lost, 'running');
  await stack.env.client.workflow.getHandle(lost).signal(hostLostSignal, { hostId: stack.t.config.hostId, lastReportAt: new Date().toISOString() });
  await until(lost, 'failed');
  for (const k of await containersOf(lost)) await docker.getContainer(k.Id).remove({ force: true });
  await save('scenario-host-lost', lost);

  // the entities, mid-life (their histories so far)
  const billing = stack.t.config.secrets.BILLING_HMAC_SECRET!;
  const receipt = (await mintToken('receipt', { sub: 'rcpt-rec', tenant: 'rec-tenant', plan: 'enterprise' }, billing, { ttlSeconds: 600, jti: 'rcpt-rec' })).token;
  await stack.call('POST', '/api/billing/receipts', undefined, { receipt });
  await save('tenant', tenantWorkflowId('rec-tenant'));
  await save('quota', quotaWorkflowId('rec-tenant', 'rec'));
} finally {
  await stack.stop();
}
