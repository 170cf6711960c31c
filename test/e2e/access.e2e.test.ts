// Subject access end to end on the real stack (CONTRACT "Subject access"): a subject solves
// log-triage through exec and files with the access token its spawn returned; every call is in
// the scenario's transcript, which the signed verdict binds; bad input gets the contract's 4xx.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { execInContainer } from '../../infra/container-access.ts';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import { transcriptDir } from '../../infra/transcript-log.ts';
import type { AuditEntry } from '../../lib/audit-chain.ts';
import { verifyChainText } from '../../lib/audit-chain.ts';
import type { ExecData, FileData } from '../../lib/transcript.ts';
import { containersOf, docker, REPO, waitFor, waitForSteady } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';

const run = promisify(execFile);
// Long enough for sixteen unread answers to be set up on a loaded machine before the first is cut
// (after one to two idle times: Node's socket timer lets a write under way run once more), short
// enough that the test sees them cut.
const IDLE_SECONDS = 15;
/** An exec whose answer (8 MiB of stdout) is more than loopback's socket buffers take unread (4 MiB sent, 128 KiB received). */
const BIG_ANSWER = ['sh', '-c', 'head -c 8388608 /dev/zero | tr "\\0" a'];

describe('subject access: exec and files on a running scenario', () => {
  let stack: Stack;
  let id: string;
  let access: string;
  before(async () => {
    // A short idle time, so that an answer nobody takes is cut within the test.
    stack = await startStack({ env: { ARBITER_ACCESS_IDLE_SECONDS: String(IDLE_SECONDS) } });
    const sat = await stack.sat(await stack.et('agent', 'acme', 'pro'), 'log-triage', 'forensics');
    const spawned = await stack.call('POST', '/api/spawn', sat, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    id = spawned.json!.scenarioId as string;
    access = spawned.json!.accessToken as string;
    assert.ok(access, 'the spawn answers an access token');
    await waitFor('running', async () => ((await stack.call('GET', `/api/scenarios/${id}`, access)).json?.status === 'running' ? true : undefined));
  });
  after(async () => { await stack?.stop(); });

  const exec = (body: Record<string, unknown>, token = access) => stack.call('POST', `/api/scenarios/${id}/exec`, token, body);
  const raw = async (method: string, path: string, token: string | undefined, body?: Buffer, type = 'application/octet-stream') => {
    const res = await fetch(`${stack.base}${path}`, {
      method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': type } : {}) }, ...(body ? { body: new Uint8Array(body) } : {}),
    });
    return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
  };
  const filePath = (p: string) => `/api/scenarios/${id}/files?path=${encodeURIComponent(p)}`;

  it('reports the grants and the working directory', async () => {
    const view = (await stack.call('GET', `/api/scenarios/${id}`, access)).json!;
    assert.deepEqual(view.access, { exec: true, files: true, terminal: true, terminalSessions: 2 });
    assert.equal(view.workdir, '/work');
  });

  it('runs argv without a shell, with stdin, cwd and env, as the template\'s user', async () => {
    const r = await exec({ cmd: ['sh', '-c', 'echo "$GREETING from $(pwd) as $(id -u)"; cat; echo err >&2; exit 3'], input: 'piped in', env: { GREETING: 'hi' }, cwd: '/opt' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json!.exitCode, 3);
    assert.equal(r.json!.stdout, 'hi from /opt as 1000\npiped in');
    assert.equal(r.json!.stderr, 'err\n');
    assert.equal(r.json!.timedOut, false);
    assert.equal(typeof r.json!.seq, 'number');
    // No shell unless asked: the argument is one argv item, not a command line.
    const literal = await exec({ cmd: ['echo', '$HOME; id'] });
    assert.equal(literal.json!.stdout, '$HOME; id\n');
  });

  it('kills a command that outlives its timeout, with every child it started', async () => {
    const r = await exec({ cmd: ['sh', '-c', 'sleep 300 & sleep 300 & wait'], timeoutSeconds: 1 });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json!.timedOut, true);
    assert.equal(r.json!.exitCode, null);
    assert.ok((r.json!.durationMs as number) < 60_000, `answered when the timeout killed it, not when sleep ended (${String(r.json!.durationMs)} ms)`);
    const [c] = await containersOf(id);
    const top = (await docker.getContainer(c!.Id).top()) as { Processes: string[][] };
    assert.deepEqual(top.Processes.filter((p) => p.join(' ').includes('sleep 300')), [], 'no process of the timed-out command is left');
  });

  it('caps stdout at 10 MiB and says so', async () => {
    const r = await exec({ cmd: ['sh', '-c', 'head -c 11534336 /dev/zero | tr "\\0" a'] });
    assert.equal(r.status, 200);
    assert.equal(r.json!.truncated && (r.json!.truncated as { stdout: boolean }).stdout, true);
    assert.equal((r.json!.stdout as string).length, 10 * 1024 * 1024);
  });

  it('writes and reads files, creating parents, resolving relative paths against the workdir', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 10, 13]);
    const put = await raw('PUT', filePath('deep/er/blob.bin'), access, bytes);
    assert.equal(put.status, 204, put.bytes.toString());
    assert.match(put.headers.get('x-arbiter-seq') ?? '', /^\d+$/);
    const got = await raw('GET', filePath('/work/deep/er/blob.bin'), access);
    assert.equal(got.status, 200);
    assert.deepEqual(got.bytes, bytes);
    // `..` and links resolve inside the container: /work/../etc/passwd is the container's.
    const passwd = await raw('GET', filePath('../etc/passwd'), access);
    assert.equal(passwd.status, 200);
    assert.match(passwd.bytes.toString(), /^player:x:1000/m);
    assert.ok(!passwd.bytes.toString().includes(readFileSync('/etc/passwd', 'utf8').split('\n')[0]!) || passwd.bytes.toString().startsWith('root:x:0:0:root:/root:/bin/sh'));
    await exec({ cmd: ['ln', '-s', '/opt/challenge/README', '/work/link'] });
    const viaLink = await raw('GET', filePath('link'), access);
    assert.match(viaLink.bytes.toString(), /Incident on bastion-01/);
  });

  it('answers each bad file request with the contract\'s error', async () => {
    const code = async (r: { status: number; bytes: Buffer }) => [r.status, (JSON.parse(r.bytes.toString()) as { error: { code: string } }).error.code];
    assert.deepEqual(await code(await raw('GET', filePath('/work/nope'), access)), [404, 'file_not_found']);
    assert.deepEqual(await code(await raw('GET', filePath('/work'), access)), [400, 'is_a_directory']);
    assert.deepEqual(await code(await raw('GET', filePath('/dev/zero'), access)), [400, 'not_a_regular_file']);
    await exec({ cmd: ['mkfifo', '/work/fifo'] });
    assert.deepEqual(await code(await raw('GET', filePath('/work/fifo'), access)), [400, 'not_a_regular_file']);
    assert.deepEqual(await code(await raw('PUT', filePath('/etc/evil'), access, Buffer.from('x'))), [403, 'permission_denied']);
    assert.deepEqual(await code(await raw('PUT', filePath('/work'), access, Buffer.from('x'))), [400, 'is_a_directory']);
    assert.deepEqual(await code(await raw('GET', filePath('/etc/shadow-not-here'), access)), [404, 'file_not_found']);
    // Larger than the 8 MiB tmpfs (and far below the 100 MiB a transfer may move): a clean 413.
    assert.deepEqual(await code(await raw('PUT', filePath('/work/huge'), access, Buffer.alloc(50 * 1024 * 1024, 1))), [413, 'too_large']);
    assert.deepEqual(await code(await raw('PUT', filePath('/work/over'), access, Buffer.alloc(101 * 1024 * 1024, 1))), [413, 'payload_too_large']);
    assert.equal((await exec({ cmd: ['rm', '-f', '/work/huge'] })).json!.exitCode, 0, 'the space is given back');
    // Refused by the route's schema before its handler reads a byte: the answer still comes, and
    // the next calls (on the same kept-alive connections) are served.
    for (let i = 0; i < 3; i++) assert.deepEqual(await code(await raw('PUT', `/api/scenarios/${id}/files?path=`, access, Buffer.alloc(4 * 1024 * 1024, 1))), [400, 'bad_request']);
    assert.equal((await raw('GET', filePath('/work/deep/er/blob.bin'), access)).status, 200);
  });

  /** the sha256 of the streamed upload below, which the transcript must record */
  let streamedSha256 = '';
  /** what the refused upload below sent, which its transcript entry must record whole */
  let refusedSha256 = '';
  /**
   * A PUT whose body goes out in 1 MiB chunks, as a client streaming a file sends it: with no
   * content-length, unless `length` gives one. `cutAfter`: the connection is closed after that
   * many chunks, as a client that dies mid-upload leaves it.
   */
  const chunkedPut = (path: string, chunks: number, opts: { cutAfter?: number; fill?: number; length?: number } = {}) => new Promise<{ status: number; code?: string; seq?: string } | 'cut'>((resolve, reject) => {
    const url = new URL(`${stack.base}${filePath(path)}`);
    const r = httpRequest({
      host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: 'PUT',
      headers: {
        authorization: `Bearer ${access}`, 'content-type': 'application/octet-stream',
        ...(opts.length === undefined ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(opts.length) }),
      },
    }, (res) => {
      const got: Buffer[] = [];
      res.on('data', (c: Buffer) => got.push(c));
      res.on('end', () => {
        const text = Buffer.concat(got).toString();
        resolve({ status: res.statusCode!, ...(text ? { code: (JSON.parse(text) as { error: { code: string } }).error.code } : {}), ...(res.headers['x-arbiter-seq'] ? { seq: String(res.headers['x-arbiter-seq']) } : {}) });
      });
    });
    r.on('error', (err) => (opts.cutAfter !== undefined ? resolve('cut') : reject(err)));
    const chunk = (i: number) => Buffer.alloc(1024 * 1024, (opts.fill ?? 0) + i);
    let i = 0;
    const next = () => {
      if (opts.cutAfter !== undefined && i === opts.cutAfter) {
        r.destroy();
        return resolve('cut');
      }
      if (i === chunks) return void r.end();
      r.write(chunk(i++), next);
    };
    next();
  });

  it('streams an upload of unknown length through to the file, and refuses one that runs over 100 MiB', async () => {
    const sent = createHash('sha256');
    for (let i = 0; i < 5; i++) sent.update(Buffer.alloc(1024 * 1024, 7 + i));
    streamedSha256 = sent.digest('hex');
    const put = await chunkedPut('streamed/five.bin', 5, { fill: 7 });
    assert.equal(put !== 'cut' && put.status, 204, JSON.stringify(put));
    const got = await raw('GET', filePath('streamed/five.bin'), access);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-length'), String(5 * 1024 * 1024), 'the read says its length up front');
    assert.equal(createHash('sha256').update(got.bytes).digest('hex'), streamedSha256);
    // 101 MiB, no length given: refused when the 100 MiB mark passes, and nothing is written.
    const over = await chunkedPut('streamed/over.bin', 101);
    assert.deepEqual(over, { status: 413, code: 'payload_too_large' });
    assert.equal((await raw('GET', filePath('streamed/over.bin'), access)).status, 404);
    const left = await exec({ cmd: ['ls', '-a', '/work/streamed'] });
    assert.deepEqual((left.json!.stdout as string).split('\n').filter(Boolean).sort(), ['.', '..', 'five.bin'], 'no partial upload is left beside it');
    assert.equal((await exec({ cmd: ['rm', '-r', '/work/streamed'] })).json!.exitCode, 0, 'its 8 MiB tmpfs is given back');
  });

  it('writes nothing of an upload whose client goes away before its last byte, and serves on', async () => {
    // Without a length the host holds what came on its disk and never starts the write; with one,
    // the bytes were already going into the container when the client went, and the write there
    // must come to nothing rather than to a file cut short. An existing file stays as it was.
    assert.equal((await raw('PUT', filePath('cut/kept.bin'), access, Buffer.from('before'))).status, 204);
    assert.equal(await chunkedPut('cut/chunked.bin', 8, { cutAfter: 3 }), 'cut');
    assert.equal(await chunkedPut('cut/sized.bin', 8, { cutAfter: 3, length: 8 * 1024 * 1024 }), 'cut');
    assert.equal(await chunkedPut('cut/kept.bin', 8, { cutAfter: 5, length: 8 * 1024 * 1024 }), 'cut');
    const after = await chunkedPut('after-cut.bin', 1);
    assert.equal(after !== 'cut' && after.status, 204, JSON.stringify(after));
    assert.equal((await raw('GET', filePath('cut/chunked.bin'), access)).status, 404);
    assert.equal((await raw('GET', filePath('cut/sized.bin'), access)).status, 404);
    assert.equal((await raw('GET', filePath('cut/kept.bin'), access)).bytes.toString(), 'before');
    // The container's side of a cut write ends on its own, once its input does.
    const left = await waitFor('the cut writes to clean up', async () => {
      const ls = await exec({ cmd: ['ls', '-a', '/work/cut'] });
      const names = (ls.json!.stdout as string).split('\n').filter(Boolean).sort();
      return names.some((n) => n.startsWith('.arbiter-upload')) ? undefined : names;
    });
    assert.deepEqual(left, ['.', '..', 'kept.bin'], 'no partial upload is left beside the file');
  });

  it('records a refused upload with every byte its caller sent', async () => {
    // Refused before the container reads a byte of it, and larger than any socket buffer between.
    const sent = createHash('sha256');
    for (let i = 0; i < 3; i++) sent.update(Buffer.alloc(1024 * 1024, i));
    refusedSha256 = sent.digest('hex');
    const refused = await chunkedPut('/etc/refused.bin', 3, { length: 3 * 1024 * 1024 });
    assert.deepEqual(refused !== 'cut' && { status: refused.status, code: refused.code }, { status: 403, code: 'permission_denied' });
  });

  it('refuses bad exec input with a 4xx and stays up', async () => {
    assert.equal((await exec({ cmd: ['echo', 'a\u0000b'] })).status, 400);
    assert.equal((await exec({ cmd: [] })).status, 400);
    assert.equal((await exec({ cmd: Array.from({ length: 100_000 }, () => 'x') })).status, 400);
    assert.equal((await exec({ cmd: ['true'], env: { 'BAD=NAME': 'x' } })).status, 400);
    const user = await exec({ cmd: ['id'], user: 'root' });
    assert.deepEqual([user.status, (user.json!.error as { code: string }).code], [400, 'user_not_allowed']);
    const big = await exec({ cmd: ['wc', '-c'], input: 'x'.repeat(20 * 1024 * 1024) });
    assert.equal(big.status, 413);
    const missing = await exec({ cmd: ['/no/such/binary'] });
    assert.deepEqual([missing.status, (missing.json!.error as { code: string }).code], [400, 'exec_refused'], JSON.stringify(missing.json));
    const nowhere = await exec({ cmd: ['true'], cwd: '/no/such/dir' });
    assert.deepEqual([nowhere.status, (nowhere.json!.error as { code: string }).code], [400, 'exec_refused'], JSON.stringify(nowhere.json));
    assert.equal((await exec({ cmd: ['true'] })).status, 200, 'still serving');
  });

  it('keeps 50 concurrent execs on one scenario to a clean answer each', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => exec({ cmd: ['echo', String(i)] })));
    for (const [i, r] of answers.entries()) {
      assert.ok(r.status === 200 || r.status === 429, `call ${i}: ${r.status} ${JSON.stringify(r.json)}`);
      if (r.status === 200) assert.equal(r.json!.stdout, `${i}\n`);
    }
    assert.ok(answers.some((r) => r.status === 200));
  });

  /** An exec through the API whose answer is left unread once its headers have come. */
  const unreadExec = (cmd: string[]) => new Promise<{ destroy(): void; status: number; whole: () => Promise<boolean> }>((resolve, reject) => {
    const body = JSON.stringify({ cmd });
    const req = httpRequest(`${stack.base}/api/scenarios/${id}/exec`, { method: 'POST', headers: { authorization: `Bearer ${access}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.pause();
      resolve({
        status: res.statusCode ?? 0,
        destroy: () => req.destroy(),
        // Taken again: whether it came whole (false once this end sees the cut).
        whole: () => new Promise((done) => {
          res.once('close', () => done(res.complete));
          res.resume();
        }),
      });
    });
    req.on('error', reject);
    req.end(body);
  });

  it('cuts an answer its caller stops taking, and counts unread answers against the scenario\'s calls in flight', async () => {
    const stalled = await Promise.all(Array.from({ length: 16 }, () => unreadExec(BIG_ANSWER)));
    assert.deepEqual(stalled.map((r) => r.status), Array(16).fill(200));
    // The host has answered every one of them; this API still holds each answer.
    const refused = await exec({ cmd: ['true'] });
    assert.equal(refused.status, 429, JSON.stringify(refused.json));
    assert.equal((refused.json!.error as { code: string }).code, 'too_many_requests');
    // After the idle time each connection is closed, its answer dropped, and its call is free again:
    // as many calls as the limit allows go through at once.
    // Polled gently first: each probe is a call, and the scenario has 600 of them a minute.
    await waitFor('a call to be free again', async () => ((await exec({ cmd: ['true'] })).status === 200 ? true : undefined), 4 * IDLE_SECONDS * 1000);
    await waitFor('every call to be free again', async () => {
      const answers = await Promise.all(Array.from({ length: 16 }, () => exec({ cmd: ['true'] })));
      return answers.every((r) => r.status === 200) ? true : undefined;
    }, 4 * IDLE_SECONDS * 1000);
    const whole = await Promise.all(stalled.map((r) => r.whole()));
    assert.deepEqual(whole, Array(16).fill(false), 'every unread answer was cut');
  });

  /** A terminal through the API, past its first prompt. */
  async function openTerminal(): Promise<{ ws: WebSocket; received: () => number; exit: () => unknown }> {
    const ws = new WebSocket(`${stack.base.replace(/^http/, 'ws')}/api/scenarios/${id}/terminal`);
    let received = 0;
    let shown = '';
    let exit: unknown;
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (!binary) exit = (JSON.parse(data.toString('utf8')) as { exit?: unknown }).exit ?? exit;
      received += data.length;
      if (shown.length < 4096) shown += data.toString('latin1');
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ token: access }));
    ws.send(Buffer.from('echo "mark"-$((6*7))\r'), { binary: true });
    await waitFor('the shell\'s answer', async () => (shown.includes('mark-42') ? true : undefined), 30_000);
    return { ws, received: () => received, exit: () => exit };
  }

  it('passes a terminal\'s output at its subject\'s pace: a program printing to a subject who stopped reading blocks until it reads again', { timeout: 180_000 }, async () => {
    const [c] = await containersOf(id);
    const container = docker.getContainer(c!.Id);
    // Read beside the API, so that polling spends none of the scenario's calls.
    const progress = async () => Number((await execInContainer(container, { cmd: ['cat', '/work/progress'], stdin: Buffer.alloc(0), cwd: '/', env: {}, user: '1000:1000', timeoutSeconds: 30 }, 1024)).stdout.toString().trim() || 0);
    const chunks = 800;
    const chunkBytes = 65536;
    const { ws, received, exit } = await openTerminal();

    ws.pause();
    ws.send(Buffer.from(`rm -f /work/progress; i=0; while [ $i -lt ${chunks} ]; do head -c ${chunkBytes} /dev/zero; i=$((i+1)); echo $i > /work/progress; done; exit 0\r`), { binary: true });
    const stalledAt = await waitForSteady('the program to block on its TTY', progress, { timeoutMs: 60_000, started: true });
    assert.ok(stalledAt < chunks / 4, `the program wrote ${stalledAt} of ${chunks} chunks to a subject who read nothing: the API or the host queued them`);

    ws.resume();
    await waitFor('the shell to exit once everything was printed', async () => (exit() === 0 ? true : undefined), 90_000);
    assert.ok(received() >= chunks * chunkBytes, `${received()} bytes reached the subject`);
    assert.equal(await progress(), chunks);
  });

  it('takes a terminal\'s keystrokes at the pace of the program reading them: a paste into a shell that reads nothing waits with its subject', { timeout: 60_000 }, async () => {
    const { ws } = await openTerminal();
    ws.send(Buffer.from('sleep 300\r'), { binary: true });
    const pasted = 24;
    for (let i = 0; i < pasted; i++) ws.send(Buffer.alloc(1024 * 1024, 0x61), { binary: true });
    const waiting = await waitForSteady('the API to stop reading the paste', async () => ws.bufferedAmount, { timeoutMs: 30_000 });
    assert.ok(waiting > (pasted / 2) * 1024 * 1024, `${waiting} bytes of ${pasted} MiB still wait with the subject: the API or the host took the rest into memory`);
    ws.terminate();
  });

  it('refuses tokens of another scenario or tenant, and other subjects', async () => {
    const otherSat = await stack.sat(await stack.et('mallory', 'evil', 'pro'), 'log-triage', 'forensics');
    const other = await stack.call('POST', '/api/spawn', otherSat, {});
    assert.equal(other.status, 202);
    const theirs = other.json!.accessToken as string;
    const r = await exec({ cmd: ['id'] }, theirs);
    assert.equal(r.status, 404, 'another scenario\'s token sees no scenario here');
    assert.equal((await exec({ cmd: ['id'] }, await stack.et('agent', 'acme', 'pro'))).status, 403, 'an ET is not an access token');
    assert.equal((await exec({ cmd: ['id'] }, 'not-a-jwt')).status, 401);
    const op = await exec({ cmd: ['id', '-u'] }, await stack.operator('ops-anna'));
    assert.equal(op.status, 200, 'an operator may, and is recorded');
  });

  it('solves the scenario through the API; the verdict binds every call, and a flipped byte fails verify', async () => {
    const hunt = await exec({ cmd: ['sh', '-c', "grep Accepted /var/log/bastion/auth.log | grep -v ' from 10\\.'"] });
    const m = /Accepted \S+ for (\S+) from (\S+)/.exec(hunt.json!.stdout as string);
    assert.ok(m, `found the intrusion: ${hunt.json!.stdout as string}`);
    const put = await raw('PUT', filePath('answer.txt'), access, Buffer.from(`${m[2]} ${m[1]}\n`));
    assert.equal(put.status, 204);
    const seqs = [hunt.json!.seq as number, Number(put.headers.get('x-arbiter-seq'))];

    const done = await stack.call('POST', `/api/scenarios/${id}/complete`, await stack.completionToken(id), { outcome: 'success', submission: {} });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    const scored = await waitFor('scored', async () => {
      const r = await stack.call('GET', `/api/scenarios/${id}`, access);
      return r.json?.status === 'scored' ? r.json : undefined;
    }, 120_000);
    assert.equal((scored.score as { passed: boolean }).passed, true);
    assert.equal((await exec({ cmd: ['true'] })).status, 409, 'no access once it is no longer running');

    const dir = resultsDir(stack.t.config.storageDir, id);
    const text = readFileSync(join(dir, RESULTS.evidenceDir, 'transcript.jsonl'), 'utf8');
    assert.ok(verifyChainText(text).ok);
    const entries = text.trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    const byseq = new Map(entries.map((e) => [e.seq, e]));
    const huntEntry = byseq.get(seqs[0]!)!;
    assert.equal(huntEntry.event, 'exec');
    assert.equal(huntEntry.actor, 'subject:agent');
    assert.deepEqual((huntEntry.data as unknown as ExecData).cmd, ['sh', '-c', "grep Accepted /var/log/bastion/auth.log | grep -v ' from 10\\.'"]);
    const putEntry = byseq.get(seqs[1]!)!;
    assert.equal(putEntry.event, 'file.write');
    assert.equal((putEntry.data as unknown as FileData).path, '/work/answer.txt');
    assert.ok(entries.some((e) => e.actor === 'operator:ops-anna'), 'the operator\'s exec is recorded with its id');
    const writes = entries.filter((e) => e.event === 'file.write').map((e) => e.data as unknown as FileData);
    assert.deepEqual(writes.filter((w) => w.path.startsWith('/work/cut/')).map((w) => w.path), ['/work/cut/kept.bin'], 'an upload cut short is not recorded: it wrote nothing');
    const streamed = writes.find((w) => w.path === '/work/streamed/five.bin');
    assert.deepEqual(streamed && { size: streamed.content.size, sha256: streamed.content.sha256 }, { size: 5 * 1024 * 1024, sha256: streamedSha256 }, 'a streamed upload is recorded whole');
    // The transcript keeps the template's first 1 MiB of it: the first chunk, all 7s.
    assert.deepEqual(readFileSync(join(dir, RESULTS.evidenceDir, streamed!.content.stored!.path)), Buffer.alloc(1024 * 1024, 7));
    // Its read waited on the host's disk for its entry: recorded whole, with the same first 1 MiB.
    const reread = entries.find((e) => e.event === 'file.read' && (e.data as unknown as FileData).path === '/work/streamed/five.bin')?.data as unknown as FileData | undefined;
    assert.deepEqual(reread && { outcome: reread.outcome, size: reread.content.size, sha256: reread.content.sha256 }, { outcome: 'ok', size: 5 * 1024 * 1024, sha256: streamedSha256 });
    assert.deepEqual(readFileSync(join(dir, RESULTS.evidenceDir, reread!.content.stored!.path)), Buffer.alloc(1024 * 1024, 7));
    const refused = writes.find((w) => w.path === '/etc/refused.bin');
    assert.deepEqual(refused && { outcome: refused.outcome, size: refused.content.size, sha256: refused.content.sha256 }, { outcome: 'permission_denied', size: 3 * 1024 * 1024, sha256: refusedSha256 });
    assert.deepEqual(readdirSync(join(transcriptDir(stack.t.config.storageDir, id), 'spool')), [], 'nothing a read or an upload without a length spooled is left on the host');
    const manifest = JSON.parse(readFileSync(join(dir, RESULTS.evidenceDir, 'manifest.json'), 'utf8')) as { files: Array<{ path: string }> };
    assert.ok(manifest.files.some((f) => f.path === 'transcript.jsonl'));
    const stdoutFile = (huntEntry.data as unknown as ExecData).stdout.stored!.path;
    assert.ok(manifest.files.some((f) => f.path === stdoutFile), 'recorded bytes are evidence');

    const cli = (args: string[]) => run(process.execPath, [join(REPO, 'bin', 'arbiter.js'), ...args], { env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent' } });
    const keys = join(stack.t.config.storageDir, 'keys', 'jwks.json');
    await cli(['verify', dir, '--keys', keys]);
    const file = join(dir, RESULTS.evidenceDir, stdoutFile);
    const bytes = readFileSync(file);
    bytes[0] = bytes[0]! ^ 1;
    writeFileSync(file, bytes);
    const broken = await cli(['verify', dir, '--keys', keys]).then(() => undefined, (err: { code: number; stdout: string; stderr: string }) => err);
    assert.ok(broken, 'verify fails on a flipped byte of a recording');
    assert.equal(broken.code, 1);
    assert.match(broken.stdout + broken.stderr, new RegExp(stdoutFile.replace(/[/.]/g, '\\$&')));
  });
});
