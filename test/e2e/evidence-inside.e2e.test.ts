// The in-container evidence reader on the real Docker engine with the real hello image: the
// isolation observation rides in the exec that reads the first declared file, so a collection of
// one declared path costs the engine one exec (its own events say so), and nothing the subject
// wrote into that file can pass for the observation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { collectFromInside, DECLARED_FILE_CAP_BYTES, execCapture, FILES_DIR, FILES_INDEX, OBSERVED_ISOLATION } from '../../activities/evidence-inside.ts';
import { execInContainer } from '../../infra/container-access.ts';
import { startDockerGate } from '../support/docker-gate.ts';
import { docker } from '../support/harness.ts';
import { startSubjectContainer } from '../support/subject-container.ts';

// A first line shaped like the observation, claiming root, a network and a writable root.
const FORGED = '{"uid":0,"interfaces":["eth0"],"rootWritable":true,"capEff":"000001ffffffffff","noNewPrivs":0,"seccomp":0,"kernel":"host","kernelRelease":"forged"}';
const SUBJECT = `
printf '%s\\nthe answer\\n' '${FORGED}' > /work/answer.txt
head -c ${DECLARED_FILE_CAP_BYTES + 1000} /dev/zero | tr '\\0' a > /work/big.txt
trap 'exit 0' TERM
echo prepared
while :; do sleep 1 & wait $!; done
`;

describe('evidence read from inside a running scenario container', () => {
  let container: Docker.Container;
  let containerId: string;
  const scratch: string[] = [];

  before(async () => {
    container = await startSubjectContainer({ name: 'inside', script: SUBJECT, ready: 'prepared' });
    containerId = container.id;
  });

  after(async () => {
    await container?.remove({ force: true }).catch(() => undefined);
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  /** One collection, and the execs the engine reports creating in this container meanwhile. */
  async function collect(paths: string[]) {
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-inside-'));
    scratch.push(dir);
    const startNs = BigInt(Date.now()) * 1_000_000n;
    const files = await collectFromInside(container, paths, dir);
    const endNs = BigInt(Date.now()) * 1_000_000n;
    // The engine's events in whole seconds around the collection, kept to its own span by their
    // nanosecond times (the same machine's clock).
    const stream = await docker.getEvents({
      since: Number(startNs / 1_000_000_000n) - 1,
      until: Number(endNs / 1_000_000_000n) + 1,
      filters: { container: [containerId], event: ['exec_create'] },
    });
    let raw = '';
    for await (const chunk of stream) raw += String(chunk);
    const execs = raw.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { timeNano: number })
      .filter((e) => BigInt(e.timeNano) >= startNs && BigInt(e.timeNano) <= endNs);
    return {
      files,
      execs,
      observed: JSON.parse(readFileSync(join(dir, OBSERVED_ISOLATION), 'utf8')) as Record<string, unknown>,
      index: JSON.parse(readFileSync(join(dir, FILES_INDEX), 'utf8')) as unknown,
      bytes: (rel: string) => readFileSync(join(dir, FILES_DIR, rel), 'latin1'),
    };
  }

  it('one declared path costs one exec; the file is read byte for byte and the observation is the container\'s, not the forged line the file starts with', async () => {
    const got = await collect(['/work/answer.txt']);
    assert.equal(got.execs.length, 1, `execs created in the container: ${got.execs.length}`);
    assert.deepEqual(got.files.map((f) => f.status), ['collected']);
    assert.equal(got.bytes('work/answer.txt'), `${FORGED}\nthe answer\n`);
    assert.deepEqual(got.index, got.files);
    const { kernelRelease, ...rest } = got.observed;
    assert.notEqual(kernelRelease, 'forged');
    assert.deepEqual(rest, { observed: true, uid: 1000, interfaces: ['lo'], rootWritable: false, capEff: '0000000000000000', noNewPrivs: 1, seccomp: 2, kernel: 'host' });
  });

  it('a file over the cap is truncated at the cap whether or not the observation shares its exec', async () => {
    const got = await collect(['/work/big.txt', '/work/big.txt']);
    assert.equal(got.execs.length, 2);
    for (const file of got.files) {
      assert.equal(file.status, 'truncated');
      assert.equal(file.size, DECLARED_FILE_CAP_BYTES);
    }
    assert.equal(got.bytes('work/big.txt'), 'a'.repeat(DECLARED_FILE_CAP_BYTES));
    assert.equal(got.observed.observed, true);
    assert.equal(got.observed.uid, 1000);
  });

  it('a path refused before any exec leaves the observation to the next path, and with none to read it is observed on its own', async () => {
    const refusedFirst = await collect(['work/relative.txt', '/work/missing.txt']);
    assert.deepEqual(refusedFirst.files.map((f) => f.status), ['refused', 'missing']);
    assert.equal(refusedFirst.execs.length, 1);
    assert.equal(refusedFirst.observed.observed, true);

    const none = await collect([]);
    assert.deepEqual(none.files, []);
    assert.equal(none.execs.length, 1);
    assert.equal(none.observed.observed, true);
    assert.equal(none.observed.uid, 1000);
  });

  // An engine that takes an exec's create and never answers (the gate holds it, as a wedged engine
  // would): the read must end by its own bound or at the activity's cancellation, not wait for the
  // activity's start-to-close timeout. A cancelled collection that never returned held up its
  // worker's shutdown (a subject-page e2e run hung until the runner's limit).
  describe('when the engine never answers the exec', () => {
    async function gated() {
      const dir = mkdtempSync(join(tmpdir(), 'arbiter-gate-'));
      scratch.push(dir);
      const gate = await startDockerGate({
        socket: join(dir, 'engine.sock'),
        engineSocket: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock',
        hold: (method, url) => method === 'POST' && url.includes(`/containers/${containerId}/exec`),
      });
      const held = new Promise<void>((resolve) => gate.onHold(() => resolve()));
      return { gate, held, container: new Docker({ socketPath: gate.socket }).getContainer(containerId) };
    }

    it('a read ends as timed out at its bound, with nothing read', async () => {
      const { gate, container: through } = await gated();
      try {
        const got = await execCapture(through, ['/bin/busybox', 'echo', 'never'], { maxBytes: 64, timeoutMs: 300 });
        assert.deepEqual(got, { exitCode: null, stdout: Buffer.alloc(0), truncated: false, timedOut: true });
        assert.equal(gate.held.length, 1, 'the exec\'s create reached the gate and was held');
      } finally {
        await gate.close();
      }
    });

    it('a cancelled collection rejects with the cancellation\'s reason while the create is held', async () => {
      const { gate, held, container: through } = await gated();
      try {
        const dir = mkdtempSync(join(tmpdir(), 'arbiter-inside-'));
        scratch.push(dir);
        const cancel = new AbortController();
        const collecting = collectFromInside(through, ['/work/answer.txt'], dir, cancel.signal);
        await held;
        const reason = new Error('scenario cancelled');
        cancel.abort(reason);
        await assert.rejects(collecting, (err) => err === reason);
      } finally {
        await gate.close();
      }
    });

    it('a subject\'s exec answers as timed out within its own timeout', async () => {
      const { gate, container: through } = await gated();
      try {
        const got = await execInContainer(through, { cmd: ['/bin/busybox', 'true'], stdin: Buffer.alloc(0), cwd: '/', env: {}, user: '1000', timeoutSeconds: 0.3 });
        assert.equal(got.timedOut, true);
        assert.equal(got.exitCode, null);
        assert.equal(got.stdout.length + got.stderr.length, 0);
      } finally {
        await gate.close();
      }
    });
  });
});
