// A file written into a container from a stream (infra/container-access.ts writeContainerFile), on
// the real engine with log-triage@1's hardened container, as the host writes an upload while it
// still arrives: the container's side knows only the length it was promised, so an upload that
// fails or comes up short must leave the file as it was, a refusal must answer without waiting
// for bytes the container will never read, and a slow one is not timed out while it arrives.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { podMembers } from '../../activities/container-spec.ts';
import { AccessError, execInContainer, writeContainerFile } from '../../infra/container-access.ts';
import { loadTemplate } from '../../infra/template.ts';
import { docker, waitFor } from '../support/harness.ts';

const template = loadTemplate({ id: 'log-triage', version: '1' });
const MiB = 1024 * 1024;

describe('container file writes from a stream', () => {
  const made: Docker.Container[] = [];
  after(async () => {
    for (const c of made) await c.remove({ force: true }).catch(() => undefined);
  });

  /** A running container of log-triage@1 as a launch makes it, with "before" in /work/kept.txt. */
  async function container(): Promise<Docker.Container> {
    const [member] = podMembers({ scenarioId: `scn-${randomUUID()}`, tenant: 'acme', template, limits: { ...template.limits }, env: [], hostId: 'file-write-test' });
    const c = await docker.createContainer(member!.spec);
    made.push(c);
    await c.start();
    await writeContainerFile(c, { ...at('/work/kept.txt'), bytes: Buffer.from('before') });
    return c;
  }
  const at = (path: string) => ({ path, cwd: '/work', user: '1000:1000' });
  const sh = async (c: Docker.Container, script: string) => (await execInContainer(c, { cmd: ['/bin/sh', '-c', script], stdin: Buffer.alloc(0), cwd: '/', env: {}, user: '1000:1000', timeoutSeconds: 30 }, 65536)).stdout.toString();
  const failure = (p: Promise<unknown>) => p.then(() => assert.fail('the write succeeded'), (err: unknown) => {
    assert.ok(err instanceof AccessError, String(err));
    return [err.status, err.code];
  });
  /** `chunks` MiB, the i-th filled with i, then `then` (ending it, failing it, or leaving it open). */
  function source(chunks: number, then: 'end' | 'fail' | 'stay-open'): PassThrough {
    const s = new PassThrough();
    void (async () => {
      for (let i = 0; i < chunks; i++) {
        if (!s.write(Buffer.alloc(MiB, i))) await new Promise((r) => s.once('drain', r));
      }
      if (then === 'end') s.end();
      if (then === 'fail') s.destroy(new Error('the client went away'));
    })();
    return s;
  }
  /** What is in /work, the upload's temporary files included, once no write is still running. */
  const workDir = (c: Docker.Container) => waitFor('the write in the container to end', async () => {
    const names = (await sh(c, 'ls -A /work')).split('\n').filter(Boolean).sort();
    return names.some((n) => n.startsWith('.arbiter-upload')) ? undefined : names;
  });

  it('writes every byte of a stream as it comes', async () => {
    const c = await container();
    await writeContainerFile(c, { ...at('streamed.bin'), source: source(3, 'end'), length: 3 * MiB });
    assert.equal(await sh(c, 'wc -c < /work/streamed.bin; head -c 1 /work/streamed.bin | od -An -tu1; tail -c 1 /work/streamed.bin | od -An -tu1'), `${3 * MiB}\n   0\n   2\n`);
  });

  it('leaves the file as it was when the stream fails part-way', async () => {
    const c = await container();
    assert.deepEqual(await failure(writeContainerFile(c, { ...at('kept.txt'), source: source(2, 'fail'), length: 4 * MiB })), [409, 'file_transfer_failed']);
    assert.deepEqual(await failure(writeContainerFile(c, { ...at('new.bin'), source: source(2, 'fail'), length: 4 * MiB })), [409, 'file_transfer_failed']);
    assert.equal(await sh(c, 'cat /work/kept.txt'), 'before');
    assert.deepEqual(await workDir(c), ['kept.txt']);
  });

  it('leaves the file as it was when the stream ends short of its length, or runs past it', async () => {
    const c = await container();
    assert.deepEqual(await failure(writeContainerFile(c, { ...at('kept.txt'), source: source(1, 'end'), length: 2 * MiB })), [409, 'file_transfer_failed']);
    assert.deepEqual(await failure(writeContainerFile(c, { ...at('kept.txt'), source: source(2, 'end'), length: MiB })), [409, 'file_transfer_failed']);
    assert.equal(await sh(c, 'cat /work/kept.txt'), 'before');
    assert.deepEqual(await workDir(c), ['kept.txt']);
  });

  it('counts a process\'s timeout from the end of a stream that arrives slowly, not from its start', async () => {
    const c = await container();
    // 25 lines, one every 100 ms: 2.5 s to arrive, against a timeout of 1 s.
    const slow = new PassThrough();
    let sent = 0;
    const tick = setInterval(() => (sent < 25 ? slow.write(`line ${sent++}\n`) : (clearInterval(tick), slow.end())), 100);
    const r = await execInContainer(c, { cmd: ['cat'], stdin: slow, cwd: '/', env: {}, user: '1000:1000', timeoutSeconds: 1 }, 65536);
    assert.equal(r.timedOut, false);
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.toString(), Array.from({ length: 25 }, (_, i) => `line ${i}\n`).join(''));
    // Once it has all arrived, the timeout holds.
    const done = Readable.from([Buffer.from('x')]);
    const held = await execInContainer(c, { cmd: ['sh', '-c', 'cat >/dev/null; sleep 30'], stdin: done, cwd: '/', env: {}, user: '1000:1000', timeoutSeconds: 1 }, 65536);
    assert.equal(held.timedOut, true);
  });

  it('answers a refusal at once, leaving the rest of the stream unread for its caller and no connection open', async () => {
    const c = await container();
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'PipeWrap' || r === 'TCPSocketWrap').length;
    const idle = sockets();
    const open = source(1, 'stay-open');
    assert.deepEqual(await failure(writeContainerFile(c, { ...at('/etc/evil'), source: open, length: 8 * MiB })), [403, 'permission_denied']);
    assert.equal(open.readableEnded, false);
    assert.equal(open.destroyed, false, 'the caller may still read it to its end');
    const closed = Readable.from([Buffer.from('x')]);
    assert.deepEqual(await failure(writeContainerFile(c, { ...at('/work'), source: closed, length: 1 })), [400, 'is_a_directory']);
    // The engine closed its side of each exec's connection when the script exited: so does this one.
    await waitFor('the exec connections to close', async () => (sockets() <= idle ? true : undefined), 20_000);
  });
});
