// Child process of test/unit/operator-audit.test.ts: appends N operator actions to the operator
// audit log of a storage folder, as the API, a worker or the CLI would, all at once.
import { recordOperatorAction } from '../../infra/operator-audit.ts';

const [storageDir, count, tag] = process.argv.slice(2);
if (!storageDir || !count || !tag) throw new Error('usage: append-operator-audit.ts <storageDir> <count> <tag>');
await Promise.all(Array.from({ length: Number(count) }, (_, i) =>
  recordOperatorAction(storageDir, { actor: `operator:${tag}`, action: 'scenario.hold', scenarioId: `scn-${tag}-${i}-aaaaaaaa` })));
