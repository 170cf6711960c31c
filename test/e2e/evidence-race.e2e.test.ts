// The in-container evidence reader against a subject that races it, on the real Docker engine with
// the real hello image and the real collector: while the collector reads the declared answer file,
// the subject keeps swapping that path between a regular file and symlinks to /proc/self/environ
// and to another file. Whatever the timing, the evidence holds the real file's bytes or a refusal.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { collectFromInside, execCapture, FILES_DIR, type DeclaredFile } from '../../activities/evidence-inside.ts';
import { waitFor } from '../support/harness.ts';
import { startSubjectContainer } from '../support/subject-container.ts';

const ROUNDS = 60;
const TIME_BOX_MS = 60_000;
const DECLARED = '/work/answer.txt';
const REAL = 'REAL-ANSWER-BYTES\n';
const ENV_MARKER = `ENVIRON-MARKER-${randomUUID()}`;
const OUTSIDE_MARKER = `OUTSIDE-MARKER-${randomUUID()}`;

// rename(2) swaps the path atomically, so the path always exists and is, at every instant, either
// the real file or a symlink: exactly the window the old test-then-read reader lost.
const SWAPPER = `
printf '%s' '${REAL}' > /work/real
echo '${OUTSIDE_MARKER}' > /work/outside.txt
cp /work/real ${DECLARED}
trap 'exit 0' TERM
echo swapping
while :; do
  ln -sfn /proc/self/environ /work/.l; mv -f /work/.l ${DECLARED}
  cp /work/real /work/.f; mv -f /work/.f ${DECLARED}
  ln -sfn /work/outside.txt /work/.l; mv -f /work/.l ${DECLARED}
  cp /work/real /work/.f; mv -f /work/.f ${DECLARED}
done
`;

describe('evidence collection against a subject swapping the declared file for a symlink', () => {
  let container: Docker.Container;
  const scratch: string[] = [];

  before(async () => {
    container = await startSubjectContainer({ name: 'race', script: SWAPPER, ready: 'swapping', env: [`RACE_MARKER=${ENV_MARKER}`] });
  });

  after(async () => {
    await container?.remove({ force: true }).catch(() => undefined);
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  it(`across at most ${ROUNDS} rounds (${TIME_BOX_MS / 1000} s), the collected answer is the real file's bytes or a refusal, never the environment or another file`, async () => {
    const outcomes: Record<string, number> = {};
    const deadline = Date.now() + TIME_BOX_MS;
    for (let round = 0; round < ROUNDS && Date.now() < deadline; round++) {
      const dir = mkdtempSync(join(tmpdir(), 'arbiter-race-'));
      scratch.push(dir);
      const [file] = await collectFromInside(container, [DECLARED], dir) as [DeclaredFile];
      outcomes[file.status] = (outcomes[file.status] ?? 0) + 1;
      if (file.status === 'collected') {
        const bytes = readFileSync(join(dir, FILES_DIR, DECLARED.slice(1)), 'latin1');
        assert.equal(bytes, REAL, `round ${round}: collected bytes are the real file's, not ${JSON.stringify(bytes.slice(0, 120))}`);
      } else {
        assert.equal(file.status, 'refused', `round ${round}: ${JSON.stringify(file)}`);
      }
      // Nothing of a symlink's target reached the evidence, in any file of it.
      const all = readFileSync(join(dir, 'files.json'), 'latin1') + readFileSync(join(dir, 'isolation-observed.json'), 'latin1');
      assert.ok(!all.includes(ENV_MARKER) && !all.includes(OUTSIDE_MARKER), `round ${round}: evidence holds a symlink target's bytes`);
    }
    // The swap really raced the reader: some rounds found the symlink.
    assert.ok((outcomes.refused ?? 0) > 0, `the subject's swap was seen (outcomes: ${JSON.stringify(outcomes)})`);
  });

  it('when the collection is cancelled while a read hangs in the container, it stops at once with the cancellation instead of waiting out its timeout', async () => {
    const cancel = new AbortController();
    const reason = new Error('scenario cancelled');
    // A read that would hang for its whole timeout (the exec's stdout never ends).
    const hanging = execCapture(container, ['/bin/busybox', 'sleep', '600'], { maxBytes: 1024, timeoutMs: 600_000, signal: cancel.signal });
    const started = await waitFor('the hanging exec to run', async () => {
      const top = await container.top({ ps_args: '-o pid,args' }) as { Processes?: string[][] };
      return top.Processes?.some((p) => p.join(' ').includes('sleep 600')) ? true : undefined;
    });
    assert.equal(started, true);
    cancel.abort(reason);
    await assert.rejects(hanging, (err: unknown) => err === reason);
    // And a whole collection started after the cancellation reads nothing and rejects the same way.
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-race-'));
    scratch.push(dir);
    await assert.rejects(collectFromInside(container, [DECLARED], dir, cancel.signal), (err: unknown) => err === reason);
  });
});
