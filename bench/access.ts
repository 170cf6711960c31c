// Subject access (CONTRACT "Subject access") on the real stack, each against the engine doing the
// same thing raw through dockerode from this process, measured in the same run:
// - exec round trip (`echo hi`) through the API vs execInContainer (infra/container-access.ts:
//   exec create, hijacked start, end of stream, inspect) on the scenario's own container;
// - file write and read of 1 MiB and 50 MiB through the API vs the engine's archive API
//   (putArchive / getArchive of a one-file tar), each side through node's own HTTP client (fetch
//   added 30-40 ms to a 1 MiB write alone). The archive API cannot see a tmpfs and refuses a
//   read-only root, so its container is a plain one of the same image: writable root, no tmpfs;
// - terminal keystroke echo through the API's WebSocket vs a raw `docker exec -it` (Tty, hijacked
//   stream) in the same container.
// Samples alternate between the two sides so both see the same machine.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import WebSocket from 'ws';
import { scenarioContainerName, scenarioSpec } from '../activities/container-spec.ts';
import { execInContainer } from '../infra/container-access.ts';
import { buildTemplateImages } from '../infra/images.ts';
import { loadTemplate } from '../infra/template.ts';
import { BENCH_LABEL } from './engine.ts';
import { resetPeakRss, rssBytes } from './processes.ts';
import { percentile, ratioOf, type BenchResult, type Figure } from './report.ts';
import { REPO, type BenchStack } from './stack.ts';

const TARGET_RATIO = 1.5;
const MiB = 1024 * 1024;
/** Writes, then reads, of the largest file the container host's peak RSS is read over, each alone. */
const HOST_TRANSFERS = 3;

/**
 * hello with room for a 50 MiB file: a 128 MiB tmpfs (a write goes to a temporary name and is
 * renamed over the old file, so replacing one needs twice its size) and 512 MB of memory, since
 * tmpfs pages count against the container's memory limit. Within the enterprise plan's limits.
 */
export const ACCESS_TEMPLATE = { id: 'bench-access', version: '1', track: 'intro' } as const;

/**
 * Builds the template's images from a temporary templates folder (as the tests do), then puts the
 * version folder where the stack's processes read templates: the repository's templates/ folder,
 * which they take from their own source location and no setting changes. The returned function
 * removes it again (.gitignore keeps a copy left by a killed run out of commits).
 */
async function installAccessTemplate(docker: Docker): Promise<() => void> {
  const root = mkdtempSync(join(tmpdir(), 'arbiter-bench-templates-'));
  try {
    const dir = join(root, ACCESS_TEMPLATE.id, ACCESS_TEMPLATE.version);
    cpSync(join(REPO, 'templates', 'hello', '1'), dir, { recursive: true });
    const file = join(dir, 'template.json');
    const t = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> & { image: Record<string, unknown>; scorer: Record<string, unknown>; limits: Record<string, number> };
    t.id = ACCESS_TEMPLATE.id;
    t.description = 'Bench only (bench/access.ts): hello with a 128 MiB tmpfs for 50 MiB file transfers.';
    t.image.tag = `arbiter-bench/${ACCESS_TEMPLATE.id}:1`;
    t.scorer.tag = `arbiter-bench/${ACCESS_TEMPLATE.id}-scorer:1`;
    t.limits = { ...t.limits, memoryMb: 512, tmpfsMb: 128, pids: 64 };
    writeFileSync(file, JSON.stringify(t, null, 2));
    await buildTemplateImages(docker, { templatesDir: root });
    const target = join(REPO, 'templates', ACCESS_TEMPLATE.id);
    rmSync(target, { recursive: true, force: true });
    cpSync(join(root, ACCESS_TEMPLATE.id), target, { recursive: true });
    return () => rmSync(target, { recursive: true, force: true });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

// A one-file tar, by hand: a 512-byte ustar header, the bytes padded to 512, two zero blocks.
function tarOf(name: string, bytes: Buffer): Buffer {
  const h = Buffer.alloc(512);
  const field = (off: number, len: number, value: string) => h.write(value, off, len, 'ascii');
  const octal = (off: number, len: number, n: number) => field(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 1000);
  octal(116, 8, 1000);
  octal(124, 12, bytes.length);
  octal(136, 12, Math.floor(Date.now() / 1000));
  h.fill(' ', 148, 156);
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const b of h) sum += b;
  field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  const pad = Buffer.alloc((512 - (bytes.length % 512)) % 512);
  return Buffer.concat([h, bytes, pad, Buffer.alloc(1024)]);
}

/** The first regular file's bytes in a tar stream. */
async function firstFileOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  const tar = Buffer.concat(chunks);
  for (let off = 0; off + 512 <= tar.length;) {
    const size = parseInt(tar.toString('ascii', off + 124, off + 136).replace(/\0.*$/, '').trim() || '0', 8);
    const type = String.fromCharCode(tar[off + 156]!);
    if (type === '0' || type === '\0') return tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error('no file in the archive');
}

/**
 * One call with node's own HTTP client: straight to the host's access server over its Unix socket
 * (with a relay token like the API's: the API's own hop is the API's time less this), or to the
 * API at an http:// base, so that both sides of a file figure are timed with the same client.
 */
function httpCall(to: string, method: string, path: string, token: string, body?: Buffer, contentType = 'application/octet-stream'): Promise<{ status: number; body: Buffer }> {
  const endpoint = to.startsWith('http://') ? { host: new URL(to).hostname, port: Number(new URL(to).port) } : { socketPath: to };
  return new Promise((resolve, reject) => {
    const r = httpRequest({
      ...endpoint, method, path,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': contentType, 'content-length': String(body.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

/** A terminal as the bench drives it: send bytes, wait for output that contains some. */
interface Term {
  send(bytes: Buffer): void;
  /** resolves when the output since the call contains `want` */
  expect(want: string, timeoutMs?: number): Promise<void>;
  /** resolves once no output has come for `ms` */
  quiet(ms: number): Promise<void>;
  close(): Promise<void>;
}

function termOver(onData: (fn: (chunk: Buffer) => void) => void, send: (b: Buffer) => void, close: () => Promise<void>): Term {
  let seen = '';
  let last = now();
  let waiter: { want: string; resolve: () => void } | undefined;
  onData((chunk) => {
    seen += chunk.toString('latin1');
    last = now();
    if (waiter && seen.includes(waiter.want)) {
      const w = waiter;
      waiter = undefined;
      w.resolve();
    }
  });
  return {
    send: (b) => { seen = ''; send(b); },
    expect: (want, timeoutMs = 10_000) => new Promise<void>((resolve, reject) => {
      if (seen.includes(want)) return resolve();
      const timer = setTimeout(() => { waiter = undefined; reject(new Error(`no ${JSON.stringify(want)} in the terminal's output within ${timeoutMs} ms (saw ${JSON.stringify(seen.slice(-200))})`)); }, timeoutMs);
      waiter = { want, resolve: () => { clearTimeout(timer); resolve(); } };
    }),
    quiet: async (ms) => {
      const until = now() + 10_000;
      while (now() - last < ms && now() < until) await sleep(ms / 4);
      seen = '';
    },
    close,
  };
}

async function apiTerminal(base: string, scenarioId: string, token: string): Promise<Term> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/scenarios/${scenarioId}/terminal`);
  await new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  ws.send(JSON.stringify({ token, cols: 80, rows: 24 }));
  return termOver((fn) => ws.on('message', (data: Buffer, binary: boolean) => { if (binary) fn(data); }),
    (b) => ws.send(b, { binary: true }),
    async () => { ws.close(); await closed; });
}

async function rawTerminal(container: Docker.Container, user: string): Promise<Term> {
  const exec = await container.exec({
    Cmd: ['/bin/sh', '-l'], AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true,
    WorkingDir: '/work', User: user, Env: ['TERM=xterm-256color'],
  });
  const stream = (await exec.start({ hijack: true, stdin: true, Tty: true }));
  await exec.resize({ h: 24, w: 80 }).catch(() => undefined);
  const ended = new Promise<void>((resolve) => { stream.once('end', resolve); stream.once('close', resolve); });
  return termOver((fn) => stream.on('data', fn), (b) => stream.write(b), async () => {
    stream.write('exit\r');
    await Promise.race([ended, sleep(2000)]);
    stream.destroy();
  });
}

export interface AccessOptions {
  execSamples: number;
  execWarmup: number;
  /** samples of each file size */
  fileSamples: Array<{ bytes: number; samples: number }>;
  keystrokes: number;
  log: (line: string) => void;
}

export async function runAccess(stack: BenchStack, opts: AccessOptions): Promise<BenchResult> {
  const uninstall = await installAccessTemplate(stack.docker);
  const template = loadTemplate(ACCESS_TEMPLATE);
  let plain: Docker.Container | undefined;
  try {
    const et = await stack.et('bench-access');
    // One scenario per part: the API limits access calls per scenario per minute (600), and each
    // part's transcript starts empty.
    const scenario = async () => {
      const { sat, scenarioId } = await stack.sat(et, ACCESS_TEMPLATE.id, ACCESS_TEMPLATE.track);
      const r = await stack.call('POST', '/api/spawn', sat, {});
      if (r.status !== 202) throw new Error(`POST /api/spawn answered ${r.status}: ${JSON.stringify(r.json)}`);
      stack.spawned.add(scenarioId);
      const token = r.json!.accessToken as string;
      for (let i = 0; ; i++) {
        const s = await stack.call('GET', `/api/scenarios/${scenarioId}`, token);
        if (s.json?.status === 'running') break;
        if (i > 1200 || (s.json && ['failed', 'denied', 'cancelled', 'completed'].includes(s.json.status as string))) throw new Error(`scenario ${scenarioId} did not run: ${JSON.stringify(s.json)}`);
        await sleep(25);
      }
      return { scenarioId, token, sat, container: stack.docker.getContainer(scenarioContainerName(scenarioId)) };
    };
    const end = async (s: { scenarioId: string; sat: string }) => {
      await stack.call('POST', `/api/scenarios/${s.scenarioId}/cancel`, s.sat);
      await stack.result(s.scenarioId).catch(() => undefined);
      stack.spawned.delete(s.scenarioId);
    };
    const figures: Figure[] = [];
    const details: Record<string, unknown> = {};

    // ── 1. exec round trip ──────────────────────────────────────────────────────────────────
    {
      const s = await scenario();
      opts.log(`  exec: ${opts.execWarmup} warm-up + ${opts.execSamples} samples each, scenario ${s.scenarioId}`);
      const api: number[] = [];
      const raw: number[] = [];
      const hostExec: number[] = [];
      const direct: number[] = [];
      const body = JSON.stringify({ cmd: ['echo', 'hi'] });
      const relay = await stack.relayToken(s.scenarioId, 'exec', template.user);
      const hostBody = Buffer.from(JSON.stringify({ cmd: ['echo', 'hi'], input: '' }));
      const viaHost = async (keep: boolean) => {
        const t0 = now();
        const r = await httpCall(stack.accessSocket, 'POST', `/v1/scenarios/${s.scenarioId}/exec`, relay, hostBody, 'application/json');
        const t = now() - t0;
        if (r.status !== 200) throw new Error(`the host's exec answered ${r.status}: ${r.body.toString()}`);
        if (keep) direct.push(t);
      };
      const viaApi = async (keep: boolean) => {
        const t0 = now();
        const res = await fetch(`${stack.base}/api/scenarios/${s.scenarioId}/exec`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body });
        const json = (await res.json()) as { stdout?: string; durationMs?: number };
        const t = now() - t0;
        if (res.status !== 200 || json.stdout !== 'hi\n') throw new Error(`exec answered ${res.status}: ${JSON.stringify(json)}`);
        if (keep) { api.push(t); hostExec.push(json.durationMs!); }
      };
      const viaRaw = async (keep: boolean) => {
        const t0 = now();
        const r = await execInContainer(s.container, { cmd: ['echo', 'hi'], stdin: Buffer.alloc(0), cwd: '/work', env: {}, user: template.user, timeoutSeconds: 60 });
        const t = now() - t0;
        if (r.exitCode !== 0 || r.stdout.toString() !== 'hi\n') throw new Error(`raw exec: ${r.exitCode} ${r.stdout.toString()}`);
        if (keep) raw.push(t);
      };
      for (let i = 0; i < opts.execWarmup + opts.execSamples; i++) {
        const keep = i >= opts.execWarmup;
        if (i % 2 === 0) { await viaApi(keep); await viaRaw(keep); } else { await viaRaw(keep); await viaApi(keep); }
        await viaHost(keep);
      }
      await end(s);
      const p50 = percentile(api, 50);
      const rawP50 = percentile(raw, 50);
      const p99 = percentile(api, 99);
      const rawP99 = percentile(raw, 99);
      const hostP50 = percentile(hostExec, 50);
      const directP50 = percentile(direct, 50);
      opts.log(`  exec p50: API ${p50.toFixed(1)} ms, host's access server called directly ${directP50.toFixed(1)} ms (its execInContainer ${hostP50} ms), raw ${rawP50.toFixed(1)} ms`);
      figures.push(
        {
          bench: 'access', metric: 'exec `echo hi` round trip p50', unit: 'ms', arbiter: p50,
          baseline: { label: 'docker exec via dockerode', value: rawP50 }, ratio: ratioOf(p50, rawP50),
          target: { text: `≤ ${TARGET_RATIO}× raw`, met: ratioOf(p50, rawP50) <= TARGET_RATIO },
        },
        { bench: 'access', metric: 'exec `echo hi` round trip p99', unit: 'ms', arbiter: p99, baseline: { label: 'docker exec via dockerode', value: rawP99 }, ratio: ratioOf(p99, rawP99) },
      );
      details.exec = { samples: opts.execSamples, warmup: opts.execWarmup, apiMs: api, rawMs: raw, hostDirectMs: direct, hostExecDurationMs: hostExec, p50Ms: { api: p50, hostDirect: directP50, hostExec: hostP50, raw: rawP50 } };
    }

    // ── 2. files ────────────────────────────────────────────────────────────────────────────
    {
      const s = await scenario();
      // The archive API's container: same image and limits, but a writable root and no tmpfs
      // (the archive API sees neither a tmpfs nor a read-only root).
      const spec = scenarioSpec({ scenarioId: `bench-raw-files-${stack.runId}`, tenant: 'bench', template, limits: { ...template.limits }, env: [] });
      spec.Labels = { ...spec.Labels, [BENCH_LABEL]: stack.runId };
      spec.HostConfig = { ...spec.HostConfig, ReadonlyRootfs: false, Tmpfs: {} };
      plain = await stack.docker.createContainer(spec);
      await plain.start();
      const rawBox = plain;
      const fileDetails: Record<string, unknown> = {};
      const apiPid = stack.children.api.proc.pid;
      for (const { bytes: size, samples } of opts.fileSamples) {
        const label = size >= MiB ? `${size / MiB} MiB` : `${size} B`;
        // The API's resident memory before this size's transfers, and its peak (VmHWM) after them:
        // what passing a file on holds in the API process.
        const rssBefore = apiPid === undefined ? undefined : rssBytes(apiPid);
        opts.log(`  files ${label}: 1 warm-up + ${samples} samples each of write and read`);
        const data = randomBytes(size);
        const path = `/work/blob-${size}.bin`;
        const put: number[] = []; const get: number[] = []; const rawPut: number[] = []; const rawGet: number[] = [];
        const hostPut: number[] = []; const hostGet: number[] = [];
        const relay = await stack.relayToken(s.scenarioId, 'files', template.user);
        const hostPath = `/v1/scenarios/${s.scenarioId}/files?path=${encodeURIComponent(path)}`;
        const hostOnce = async (keep: boolean) => {
          let t0 = now();
          const w = await httpCall(stack.accessSocket, 'PUT', hostPath, relay, data);
          const tw = now() - t0;
          if (w.status !== 204) throw new Error(`the host's PUT files answered ${w.status}: ${w.body.toString().slice(0, 200)}`);
          t0 = now();
          const r = await httpCall(stack.accessSocket, 'GET', hostPath, relay);
          const tr = now() - t0;
          if (r.status !== 200 || !r.body.equals(data)) throw new Error(`the host's GET files answered ${r.status} with ${r.body.length} bytes`);
          if (keep) { hostPut.push(tw); hostGet.push(tr); }
        };
        const apiPath = `/api/scenarios/${s.scenarioId}/files?path=${encodeURIComponent(path)}`;
        const apiOnce = async (keep: boolean) => {
          let t0 = now();
          const w = await httpCall(stack.base, 'PUT', apiPath, s.token, data);
          const tw = now() - t0;
          if (w.status !== 204) throw new Error(`PUT files answered ${w.status}: ${w.body.toString().slice(0, 200)}`);
          t0 = now();
          const r = await httpCall(stack.base, 'GET', apiPath, s.token);
          const tr = now() - t0;
          if (r.status !== 200 || !r.body.equals(data)) throw new Error(`GET files answered ${r.status} with ${r.body.length} bytes`);
          if (keep) { put.push(tw); get.push(tr); }
        };
        const rawOnce = async (keep: boolean) => {
          let t0 = now();
          await rawBox.putArchive(tarOf(`blob-${size}.bin`, data), { path: '/work' });
          const tw = now() - t0;
          t0 = now();
          const got = await firstFileOf((await rawBox.getArchive({ path: path })) as unknown as Readable);
          const tr = now() - t0;
          if (!got.equals(data)) throw new Error(`getArchive gave ${got.length} bytes back`);
          if (keep) { rawPut.push(tw); rawGet.push(tr); }
        };
        // The container host's peak over writes, then over reads, each alone and before the samples
        // below (memory a transfer leaves to the allocator would hide what the next one holds):
        // what passing a file into or out of the container holds on the host.
        const hostPeaks: Record<string, { before: number; peak: number }> = {};
        const hostPid = stack.children.containerWorker.proc.pid;
        if (size === Math.max(...opts.fileSamples.map((f) => f.bytes)) && hostPid !== undefined) {
          for (const what of ['writes', 'reads'] as const) {
            if (!resetPeakRss(hostPid)) break;
            const before = rssBytes(hostPid);
            for (let i = 0; i < HOST_TRANSFERS; i++) {
              const r = what === 'writes' ? await httpCall(stack.base, 'PUT', apiPath, s.token, data) : await httpCall(stack.base, 'GET', apiPath, s.token);
              if (r.status !== (what === 'writes' ? 204 : 200)) throw new Error(`${what === 'writes' ? 'PUT' : 'GET'} files answered ${r.status}: ${r.body.toString().slice(0, 200)}`);
            }
            const peak = rssBytes(hostPid, 'VmHWM');
            if (before === undefined || peak === undefined) continue;
            hostPeaks[what] = { before, peak };
            figures.push({
              bench: 'access', metric: `container host peak RSS over ${HOST_TRANSFERS} ${label} ${what}`, unit: 'MB', arbiter: peak / MiB,
              baseline: { label: 'its RSS before them', value: before / MiB }, ratio: ratioOf(peak, before),
            });
          }
        }
        for (let i = 0; i < 1 + samples; i++) {
          const keep = i >= 1;
          if (i % 2 === 0) { await apiOnce(keep); await rawOnce(keep); } else { await rawOnce(keep); await apiOnce(keep); }
          await hostOnce(keep);
        }
        for (const [what, a, b] of [['write', put, rawPut], ['read', get, rawGet]] as const) {
          const p50 = percentile(a, 50);
          const rawP50 = percentile(b, 50);
          figures.push({
            bench: 'access', metric: `file ${what} ${label} p50`, unit: 'ms', arbiter: p50,
            baseline: { label: `${what === 'write' ? 'putArchive' : 'getArchive'}, plain container`, value: rawP50 }, ratio: ratioOf(p50, rawP50),
            target: { text: `≤ ${TARGET_RATIO}× raw`, met: ratioOf(p50, rawP50) <= TARGET_RATIO },
            ...(what === 'write' && size === opts.fileSamples[0]!.bytes ? { note: 'the archive API baseline runs in a plain container of the same image (writable root, no tmpfs): the engine\'s archive API cannot see a tmpfs and refuses a read-only root, so it writes to the overlay on the host\'s disk where Arbiter writes into the scenario\'s tmpfs' } : {}),
          });
        }
        const peak = apiPid === undefined ? undefined : rssBytes(apiPid, 'VmHWM');
        if (rssBefore !== undefined && peak !== undefined && size === Math.max(...opts.fileSamples.map((f) => f.bytes))) {
          figures.push({
            bench: 'access', metric: `API peak RSS over the ${label} transfers`, unit: 'MB', arbiter: peak / MiB,
            baseline: { label: 'its RSS before them', value: rssBefore / MiB }, ratio: ratioOf(peak, rssBefore),
          });
        }
        fileDetails[label] = { samples, apiWriteMs: put, apiReadMs: get, hostDirectWriteMs: hostPut, hostDirectReadMs: hostGet, rawWriteMs: rawPut, rawReadMs: rawGet, apiRssBeforeBytes: rssBefore, apiPeakRssBytes: peak, hostRssBytes: hostPeaks };
        opts.log(`  files ${label} p50 (API / host direct / raw): write ${[put, hostPut, rawPut].map((a) => percentile(a, 50).toFixed(0)).join(' / ')} ms; read ${[get, hostGet, rawGet].map((a) => percentile(a, 50).toFixed(0)).join(' / ')} ms`);
        // Give the tmpfs back before the next size.
        await fetch(`${stack.base}/api/scenarios/${s.scenarioId}/exec`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ cmd: ['rm', '-f', path] }) });
      }
      details.files = fileDetails;
      await plain.remove({ force: true, v: true });
      plain = undefined;
      await end(s);
    }

    // ── 3. terminal keystroke echo ──────────────────────────────────────────────────────────
    {
      const s = await scenario();
      opts.log(`  terminal: ${opts.keystrokes} keystrokes each`);
      const viaApi = await apiTerminal(stack.base, s.scenarioId, s.token);
      const viaRaw = await rawTerminal(s.container, template.user);
      // The login shell's prompt first (not timed).
      await Promise.all([viaApi.quiet(300), viaRaw.quiet(300)]);
      const api: number[] = []; const raw: number[] = [];
      const WARMUP = 5;
      const key = async (t: Term, ch: string, into: number[] | undefined) => {
        const t0 = now();
        t.send(Buffer.from(ch, 'latin1'));
        await t.expect(ch);
        if (into) into.push(now() - t0);
      };
      for (let i = 0; i < WARMUP + opts.keystrokes; i++) {
        const ch = String.fromCharCode(97 + (i % 26));
        const keep = i >= WARMUP;
        if (i % 2 === 0) { await key(viaApi, ch, keep ? api : undefined); await key(viaRaw, ch, keep ? raw : undefined); } else { await key(viaRaw, ch, keep ? raw : undefined); await key(viaApi, ch, keep ? api : undefined); }
        // Kill the line (Ctrl-U) before it wraps; not timed.
        if (i % 40 === 39) for (const t of [viaApi, viaRaw]) { t.send(Buffer.from('\x15')); await t.quiet(100); }
      }
      await viaApi.close();
      await viaRaw.close();
      await end(s);
      const p50 = percentile(api, 50);
      const rawP50 = percentile(raw, 50);
      figures.push(
        { bench: 'access', metric: 'terminal keystroke echo p50', unit: 'ms', arbiter: p50, baseline: { label: 'docker exec -it via dockerode', value: rawP50 }, ratio: ratioOf(p50, rawP50) },
        { bench: 'access', metric: 'terminal keystroke echo p99', unit: 'ms', arbiter: percentile(api, 99), baseline: { label: 'docker exec -it via dockerode', value: percentile(raw, 99) }, ratio: ratioOf(percentile(api, 99), percentile(raw, 99)) },
      );
      details.terminal = { keystrokes: opts.keystrokes, warmup: WARMUP, apiMs: api, rawMs: raw };
    }
    return { figures, details };
  } finally {
    await plain?.remove({ force: true, v: true }).catch(() => undefined);
    uninstall();
  }
}
