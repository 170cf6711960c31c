// File transfers on the container host's own access server whose other end stops, on the real
// engine with log-triage@1's hardened container. The API cuts a stalled upload first, but the host
// does not count on it: a caller that stops sending, or stops reading its answer, must not hold a
// call's slot, the container's write, a spool file or an exec's output for as long as it keeps its
// socket; and an answer nobody reads keeps its call's slot, so a scenario cannot pile them up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { podMembers } from '../../activities/container-spec.ts';
import { AccessRegistry } from '../../infra/access-registry.ts';
import { ACCESS_LIMITS, execInContainer } from '../../infra/container-access.ts';
import { loadTemplate } from '../../infra/template.ts';
import { mintToken } from '../../infra/tokens.ts';
import { transcriptDir } from '../../infra/transcript-log.ts';
import { TRANSCRIPT_FILE } from '../../lib/transcript.ts';
import { buildAccessServer, listenAccessServer, type AccessListener } from '../../workers/access-server.ts';
import { docker, waitFor } from '../support/harness.ts';

const HOST = 'transfer-idle-host';
const SECRET = { current: Buffer.from('transfer-idle-relay-secret-of-this-test-only', 'utf8'), previous: [] };
const IDLE_MS = 400;
const KiB = 1024;
const MiB = 1024 * KiB;
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Answer { status: number; body: string; closed: boolean }

describe('the container host cuts a transfer that makes no progress', () => {
  let container: Docker.Container;
  let scenarioId: string;
  let dir: string;
  let registry: AccessRegistry;
  /** `quick` cuts after IDLE_MS; `patient` after the default idle time (60 s) */
  const sockets = { quick: '', patient: '' };
  const servers: AccessListener[] = [];
  const open: ClientRequest[] = [];

  before(async () => {
    const template = loadTemplate({ id: 'log-triage', version: '1' });
    const [member] = podMembers({ scenarioId: `scn-idle-${randomUUID()}`, tenant: 'acme', template, limits: { ...template.limits }, env: [], hostId: HOST });
    container = await docker.createContainer(member!.spec);
    await container.start();
    scenarioId = (await container.inspect()).Name.replace(/^\/arbiter-/, '');
    dir = mkdtempSync(join(tmpdir(), 'arbiter-transfer-idle-'));
    registry = new AccessRegistry(dir);
    for (const kind of ['quick', 'patient'] as const) {
      sockets[kind] = join(dir, `${kind}.sock`);
      const app = await buildAccessServer({ docker, registry, hostId: HOST, relaySecret: SECRET, log: silent, transferIdleMs: kind === 'quick' ? IDLE_MS : 60_000 });
      servers.push(await listenAccessServer(app, `unix:${sockets[kind]}`));
    }
  });

  after(async () => {
    for (const req of open) req.destroy();
    for (const s of servers) await s.close().catch(() => undefined);
    await container?.remove({ force: true }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const token = async (act: 'files' | 'exec') => (await mintToken('relay', { sub: 'subject:alice', scn: scenarioId, host: HOST, act, svc: 'main', user: '1000:1000', rec: 64 * KiB, max: 4 }, SECRET, { ttlSeconds: 600 })).token;

  /**
   * A PUT of `path` that sends `chunks` (each after `gapMs`), then ends the body or leaves it open.
   * With `length`, the request declares it; without, the body is chunked.
   */
  async function put(path: string, opts: { chunks: Buffer[]; gapMs: number; then: 'end' | 'stall'; length?: number }): Promise<Answer> {
    const headers: Record<string, string | number> = { authorization: `Bearer ${await token('files')}`, 'content-type': 'application/octet-stream' };
    if (opts.length !== undefined) headers['content-length'] = opts.length;
    return new Promise<Answer>((resolve, reject) => {
      const req = httpRequest({ socketPath: sockets.quick, method: 'PUT', path: `/v1/scenarios/${scenarioId}/files?path=${encodeURIComponent(path)}`, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, closed: res.headers.connection === 'close' }));
      });
      open.push(req);
      req.on('error', reject);
      // Bounded, so a host that never cuts fails the test instead of hanging it.
      setTimeout(() => reject(new Error('no answer within 10 s')), 10_000).unref();
      void (async () => {
        for (const chunk of opts.chunks) {
          req.write(chunk);
          await new Promise((r) => setTimeout(r, opts.gapMs));
        }
        if (opts.then === 'end') req.end();
      })();
    });
  }

  /** A read of `path` whose answer is left unread once its headers have come. */
  async function unreadRead(socketPath: string, path: string): Promise<{ req: ClientRequest; res: IncomingMessage }> {
    const auth = `Bearer ${await token('files')}`;
    return new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath, method: 'GET', path: `/v1/scenarios/${scenarioId}/files?path=${encodeURIComponent(path)}`, headers: { authorization: auth } }, (res) => {
        res.pause();
        resolve({ req, res });
      });
      open.push(req);
      req.on('error', reject);
      req.end();
    });
  }

  async function exec(socketPath: string, cmd: string[]): Promise<{ status: number; body: string }> {
    const body = JSON.stringify({ cmd });
    const auth = `Bearer ${await token('exec')}`;
    return new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath, method: 'POST', path: `/v1/scenarios/${scenarioId}/exec`, headers: { authorization: auth, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const sh = async (script: string) => (await execInContainer(container, { cmd: ['/bin/sh', '-c', script], stdin: Buffer.alloc(0), cwd: '/', env: {}, user: '1000:1000', timeoutSeconds: 30 }, 65536)).stdout.toString();
  const entries = () => {
    const file = join(transcriptDir(dir, scenarioId), TRANSCRIPT_FILE);
    return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; data: { path: string; outcome: string } }) : [];
  };
  const spoolDir = () => join(transcriptDir(dir, scenarioId), 'spool');
  /** This process's open files in the spool directory, removed names included. */
  const openSpools = () => readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return [];
    }
  }).filter((target) => target.startsWith(spoolDir()));
  const inflight = () => registry.of(scenarioId).inflight.size;

  it('cuts a stalled upload with a length and one without, and nothing is written, kept or recorded', async () => {
    const kept = await put('/work/kept.txt', { chunks: [Buffer.from('before')], gapMs: 0, then: 'end', length: 6 });
    assert.equal(kept.status, 204, kept.body);
    const recorded = entries().length;

    const sized = await put('/work/kept.txt', { chunks: [Buffer.alloc(64 * KiB, 1)], gapMs: 0, then: 'stall', length: 256 * KiB });
    assert.equal(sized.status, 400, sized.body);
    assert.equal((JSON.parse(sized.body) as { error: { code: string } }).error.code, 'incomplete_body');
    assert.ok(sized.closed, 'the connection of a refused upload closes');

    const chunked = await put('/work/kept.txt', { chunks: [Buffer.alloc(64 * KiB, 2)], gapMs: 0, then: 'stall' });
    assert.equal(chunked.status, 400, chunked.body);
    assert.equal((JSON.parse(chunked.body) as { error: { code: string } }).error.code, 'incomplete_body');

    assert.equal(await sh('cat /work/kept.txt'), 'before');
    assert.deepEqual((await sh('ls -A /work')).split('\n').filter(Boolean), ['kept.txt'], 'no temporary file is left');
    assert.deepEqual(existsSync(spoolDir()) ? readdirSync(spoolDir()) : [], [], 'no spool file is left');
    assert.equal(entries().length, recorded, 'a cut upload wrote nothing, so nothing is recorded');
    await waitFor('the calls\' slots to be free', async () => (inflight() === 0 ? true : undefined), 10_000);
  });

  it('lets an upload that keeps coming run longer than the idle time in all', async () => {
    const chunks = Array.from({ length: 6 }, (_, i) => Buffer.alloc(8 * KiB, i));
    const slow = await put('/work/slow.bin', { chunks, gapMs: IDLE_MS / 4, then: 'end', length: 48 * KiB });
    assert.equal(slow.status, 204, slow.body);
    assert.equal(await sh('wc -c < /work/slow.bin; tail -c 1 /work/slow.bin | od -An -tu1'), `${48 * KiB}\n   5\n`);
    assert.equal(entries().at(-1)?.data.path, '/work/slow.bin');
    await sh('rm /work/slow.bin');
  });

  it('closes an answer its reader stopped taking, and frees its slot and its spooled file', async () => {
    // Past the 4 MiB a read waits in memory: this one is answered from a file on the host's disk.
    await sh('head -c 6291456 /dev/urandom > /work/big.bin');
    const { res } = await unreadRead(sockets.quick, '/work/big.bin');
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-length'], String(6 * MiB));
    assert.equal(entries().at(-1)?.event, 'file.read', 'the read was recorded before its answer');
    assert.equal(inflight(), 1, 'the unread answer holds its call\'s slot');
    assert.equal(openSpools().length, 1, 'the answer comes from a spooled file');
    await waitFor('the host to cut the unread answer, freeing its slot and its spooled file', async () => (inflight() === 0 && openSpools().length === 0 ? true : undefined), 10_000);
    // The reader, taking its answer again, finds it cut short.
    let got = 0;
    const complete = await new Promise<boolean>((resolve) => {
      res.on('data', (c: Buffer) => { got += c.length; });
      res.once('close', () => resolve(res.complete));
      res.resume();
    });
    assert.equal(complete, false);
    assert.ok(got < 6 * MiB, `${got} bytes of ${6 * MiB}`);
    await sh('rm /work/big.bin');
  });

  it('keeps a call\'s slot until its answer is taken: unread answers cannot pile up past the scenario\'s limit', async () => {
    // Larger than a Unix socket takes unread, so each answer stays on its way.
    await sh('head -c 2097152 /dev/urandom > /work/mid.bin');
    const readers = await Promise.all(Array.from({ length: ACCESS_LIMITS.callsInFlight }, () => unreadRead(sockets.patient, '/work/mid.bin')));
    assert.ok(readers.every((r) => r.res.statusCode === 200));
    assert.equal(inflight(), ACCESS_LIMITS.callsInFlight);
    const refused = await exec(sockets.patient, ['true']);
    assert.equal(refused.status, 429, refused.body);
    assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, 'too_many_requests');

    for (const r of readers) r.req.destroy();
    await waitFor('the readers\' slots to be freed', async () => (inflight() === 0 ? true : undefined), 10_000);
    const ok = await exec(sockets.patient, ['true']);
    assert.equal(ok.status, 200, ok.body);
  });

  it('closes the scenario\'s access without waiting for a reader who does not take its answer', async () => {
    // Streamed from the host's disk, as a read past 4 MiB is.
    await sh('rm /work/mid.bin; head -c 6291456 /dev/urandom > /work/big.bin');
    const { res } = await unreadRead(sockets.patient, '/work/big.bin');
    assert.equal(res.statusCode, 200);
    const closed = registry.close(scenarioId, 'container-host').then(() => 'closed');
    const late = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000).unref());
    assert.equal(await Promise.race([closed, late]), 'closed');
  });
});
