// Child process of the operator audit log tests: appends N operator actions to the operator audit
// log of a storage folder, as the API, a worker or the CLI would, all at once; with a Temporal
// address, through the log's anchor there, as every production writer does.
import { Client, Connection } from '@temporalio/client';
import { recordOperatorAction } from '../../infra/operator-audit.ts';

const [storageDir, count, tag, temporalAddress] = process.argv.slice(2);
if (!storageDir || !count || !tag) throw new Error('usage: append-operator-audit.ts <storageDir> <count> <tag> [temporalAddress]');
const temporal = temporalAddress ? new Client({ connection: await Connection.connect({ address: temporalAddress }) }) : undefined;
try {
  await Promise.all(Array.from({ length: Number(count) }, (_, i) =>
    recordOperatorAction({ storageDir, temporal }, { actor: `operator:${tag}`, action: 'scenario.hold', scenarioId: `scn-${tag}-${i}-aaaaaaaa` })));
} finally {
  await temporal?.connection.close();
}
