// The subject's page (GET /scenarios/:id) in headless Chromium. First against a stand-in API and
// terminal that record what the page sends: the token only in headers and the first frame, the
// terminal protocol of CONTRACT "Subject access", a message for every refusal, the verdict checked
// in the page. Then on the real stack: a log-triage scenario worked through the page's terminal,
// recorded in the transcript the signed verdict binds, and the verdict verified by the page.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { chromium, type Browser, type Page } from 'playwright-core';
import subjectPageRoutes from '../../api/routes/subject-page.ts';
import { loadSigner, publicJwks, type Jwks } from '../../infra/keys.ts';
import { buildStatement, signStatement, type DsseEnvelope } from '../../infra/verdict.ts';
import { resultsDir, RESULTS } from '../../infra/results.ts';
import { TRANSCRIPT_FILE } from '../../lib/transcript.ts';
import type { TerminalData } from '../../lib/transcript.ts';
import type { AuditEntry } from '../../lib/audit-chain.ts';
import { REPO, testConfig, waitFor, type TestConfig } from '../support/harness.ts';
import { startStack, type Stack } from '../support/stack.ts';

const ARTIFACTS = join(REPO, 'test', 'artifacts');
// Without these Chromium reaches for the network (updates, sync, QUIC probes) at start.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface Opened { page: Page; errors: string[]; urls: string[] }

async function openPage(browser: Browser, url: string): Promise<Opened> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const errors: string[] = [];
  const urls: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => urls.push(r.url()));
  page.on('websocket', (ws) => urls.push(ws.url()));
  await page.goto(url);
  return { page, errors, urls };
}

/** Waits until the page's terminal shows `text` (xterm's DOM renderer draws spaces as no-break spaces). */
async function waitForTerminalText(page: Page, text: string): Promise<void> {
  try {
    await page.waitForFunction((t) => (document.querySelector('#terminal .xterm-rows')?.textContent ?? '').replace(/\u00a0/g, ' ').includes(t), text, { timeout: 30_000 });
  } catch (err) {
    const state = await page.textContent('#terminal-state');
    const shown = await page.evaluate(() => (document.querySelector('#terminal .xterm-rows')?.textContent ?? '').replace(/\u00a0/g, ' ').trim());
    throw new Error(`the terminal never showed ${JSON.stringify(text)} (state: ${state ?? '?'}; it shows: ${JSON.stringify(shown)})`, { cause: err });
  }
}

async function typeInTerminal(page: Page, text: string): Promise<void> {
  await page.focus('#terminal .xterm-helper-textarea');
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

describe('subject page against a stand-in API and terminal', () => {
  const ID = 'scn-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
  let t: TestConfig;
  let app: FastifyInstance;
  let wss: WebSocketServer;
  let base: string;
  let browser: Browser;
  let jwks: Jwks;
  let envelope: DsseEnvelope;
  let status = 'running';
  /** every frame the stand-in terminal received, per connection, text as strings */
  const sessions: Array<Array<string | Buffer>> = [];
  const apiAuth: string[] = [];
  // A token names the close code the stand-in terminal answers it with.
  const REFUSALS: Record<string, number> = { 'token-4401': 4401, 'token-4403': 4403, 'token-4409': 4409, 'token-4429': 4429 };
  // The token 'slow' gets a terminal that stays silent until the test says it is ready, as the
  // real one does while it checks the token and reaches the container's host.
  let speak: () => void = () => undefined;
  let spoken = Promise.resolve();

  before(async () => {
    t = await testConfig();
    jwks = await publicJwks(t.config.keysDir);
    const signer = await loadSigner(t.config.keysDir);
    envelope = await signStatement(buildStatement({
      scenarioId: ID, subject: 'alice', tenant: 'acme', plan: 'pro', track: 'forensics',
      template: { id: 'log-triage', version: '1', digest: 'a'.repeat(64) }, policy: { sha256: 'b'.repeat(64), allow: true },
      outcome: 'success', status: 'scored', score: { score: 3, maxScore: 3, passed: true }, auditHead: 'c'.repeat(64),
      issuedAt: '2026-01-02T03:04:05.000Z', keyId: signer.keyId,
    }, { score: 'd'.repeat(64), manifest: 'e'.repeat(64) }), signer);

    app = Fastify();
    await app.register(subjectPageRoutes);
    const authorized = (h: string | undefined) => ['good', 'slow', ...Object.keys(REFUSALS)].some((k) => h === `Bearer ${k}`);
    app.get('/api/scenarios/:id', async (request, reply) => {
      apiAuth.push(request.headers.authorization ?? '');
      if (!authorized(request.headers.authorization)) return reply.status(401).send({ error: { code: 'token_invalid', message: 'bad token' } });
      return { scenarioId: ID, status, template: 'log-triage', templateVersion: '1', track: 'forensics', createdAt: '2026-01-02T03:00:00.000Z', ...(status === 'failed' ? { reason: 'the host went away' } : {}) };
    });
    app.get('/api/scenarios/:id/verdict', async (request, reply) => {
      if (!authorized(request.headers.authorization)) return reply.status(401).send({ error: { code: 'token_invalid', message: 'bad token' } });
      return { verdict: {}, signature: '', keyId: jwks.keys[0]!.kid, envelope };
    });
    app.get('/.well-known/arbiter/keys', async () => jwks);
    base = await app.listen({ host: '127.0.0.1', port: 0 });

    // The terminal's side of the protocol, recording every frame: output is the keystrokes echoed.
    wss = new WebSocketServer({ server: app.server, path: `/api/scenarios/${ID}/terminal` });
    wss.on('connection', (ws: WebSocket) => {
      const frames: Array<string | Buffer> = [];
      sessions.push(frames);
      let typedSoFar = '';
      ws.on('message', (data: RawData, isBinary: boolean) => {
        const frame = isBinary ? Buffer.from(data as Buffer) : (data as Buffer).toString('utf8');
        frames.push(frame);
        if (frames.length === 1) {
          const first = JSON.parse(frame as string) as { token?: string };
          const refusal = REFUSALS[first.token ?? ''];
          if (refusal) ws.close(refusal, 'refused');
          else if (first.token === 'slow') void spoken.then(() => ws.send(Buffer.from('slow shell\r\n$ '), { binary: true }));
          else if (first.token !== 'good') ws.close(4401, 'bad token');
          else ws.send(Buffer.from('\x1b[1mstand-in shell\x1b[0m\r\n$ '), { binary: true });
          return;
        }
        if (!isBinary) return;
        const typed = (frame as Buffer).toString('utf8');
        typedSoFar += typed;
        ws.send(Buffer.from(typed.replace(/\r/g, '\r\n')), { binary: true });
        if (typedSoFar.endsWith('exit\r')) {
          ws.send(JSON.stringify({ exit: 3 }));
          ws.close(1000);
        }
      });
    });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    wss?.close();
    await app?.close();
    t?.cleanup();
  });

  it('a token in the fragment is taken, dropped from the address, and sent only in headers and the first frame; keystrokes and resizes follow the protocol', async () => {
    status = 'running';
    const before = sessions.length;
    const { page, errors, urls } = await openPage(browser, `${base}/scenarios/${ID}#token=good`);
    await page.waitForSelector('#status-value[data-status="running"]');
    assert.equal(new URL(page.url()).hash, '', 'the token left the address bar');
    assert.equal(await page.textContent('#template-value'), 'log-triage@1 (track forensics)');
    await waitForTerminalText(page, 'stand-in shell');
    await page.waitForSelector('#terminal-state[data-state="open"]');

    await typeInTerminal(page, 'echo hi');
    await waitForTerminalText(page, 'echo hi');
    const frames = sessions[before]!;
    const first = JSON.parse(frames[0] as string) as { token: string; cols: number; rows: number };
    assert.equal(first.token, 'good');
    assert.ok(first.cols > 20 && first.rows > 5, `the first frame carries the fitted size ${first.cols}x${first.rows}`);
    const typed = frames.filter((f): f is Buffer => Buffer.isBuffer(f)).map((b) => b.toString('utf8')).join('');
    assert.equal(typed, 'echo hi\r', 'keystrokes go as binary frames');

    await page.setViewportSize({ width: 700, height: 900 });
    await waitFor('a resize frame', async () => {
      const resize = frames.slice(1).find((f): f is string => typeof f === 'string');
      return resize ? (JSON.parse(resize) as { resize: { cols: number; rows: number } }) : undefined;
    }, 10_000).then((r) => assert.ok(r.resize.cols < first.cols, `narrower: ${r.resize.cols} < ${first.cols}`));

    await typeInTerminal(page, 'exit');
    await page.waitForSelector('#terminal-state:text("exited with code 3")');
    assert.ok(urls.every((u) => !u.includes('good')), `no URL carried the token: ${urls.join(' ')}`);
    assert.ok(apiAuth.includes('Bearer good'), 'the status calls carried it as a bearer token');
    assert.equal(await page.evaluate((id) => sessionStorage.getItem(`arbiter:token:${id}`), ID), 'good', 'kept in this tab');
    await page.screenshot({ path: join(ARTIFACTS, 'subject-page-terminal.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no console errors (a CSP violation, xterm styles included, would show here)');
    await page.close();
  });

  it('keystrokes typed before the terminal has said anything are held, then sent once it has', async () => {
    status = 'running';
    spoken = new Promise<void>((resolve) => { speak = resolve; });
    const before = sessions.length;
    const { page, errors } = await openPage(browser, `${base}/scenarios/${ID}#token=slow`);
    await waitFor('the token frame', async () => (sessions[before]?.length ? true : undefined), 10_000);
    assert.equal(await page.getAttribute('#terminal-state', 'data-state'), 'connecting');
    await typeInTerminal(page, 'early');
    const frames = sessions[before]!;
    assert.deepEqual(frames.slice(1), [], 'nothing was sent while the terminal was silent');
    speak();
    await page.waitForSelector('#terminal-state[data-state="open"]');
    await waitForTerminalText(page, 'early');
    assert.equal(frames.filter((f): f is Buffer => Buffer.isBuffer(f)).map((b) => b.toString('utf8')).join(''), 'early\r');
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('each close code the terminal refuses with is shown as its own message', async () => {
    status = 'running';
    const expected: Record<number, RegExp> = { 4401: /refused the token/, 4403: /does not grant terminal access/, 4409: /not running/, 4429: /too many terminal sessions/ };
    for (const [tok, code] of Object.entries(REFUSALS)) {
      const { page } = await openPage(browser, `${base}/scenarios/${ID}`);
      await page.fill('#token', tok);
      await page.click('#token-form button[type=submit]');
      await page.waitForSelector('#terminal-state[data-state="error"]');
      assert.match((await page.textContent('#terminal-state')) ?? '', expected[code]!, `close code ${code}`);
      await page.close();
    }
  });

  it('a refused token brings the form back with the reason, and the token is forgotten', async () => {
    const { page } = await openPage(browser, `${base}/scenarios/${ID}`);
    await page.fill('#token', 'wrong');
    await page.press('#token', 'Enter');
    await page.waitForSelector('#access-error:text("refused")');
    assert.equal(await page.isVisible('#token-form'), true);
    assert.equal(await page.evaluate((id) => sessionStorage.getItem(`arbiter:token:${id}`), ID), null);
    await page.close();
  });

  it('once scored, the verdict is checked in the page against the published keys', async () => {
    status = 'scored';
    const { page, errors } = await openPage(browser, `${base}/scenarios/${ID}#token=good`);
    await page.waitForSelector('#verdict[data-state="valid"]');
    assert.match((await page.textContent('#verdict-state')) ?? '', new RegExp(`VERIFIED: signed by ${jwks.keys[0]!.kid}`));
    assert.match((await page.textContent('#verdict-score')) ?? '', /score 3 \/ 3 \(passed\), outcome success/);
    assert.equal(await page.isVisible('#terminal-section'), false, 'no terminal for a scenario that is over');
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('the page is served with a nonce CSP and its bundle by digest with integrity', async () => {
    const res = await fetch(`${base}/scenarios/${ID}`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
    assert.ok(nonce, csp);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /form-action 'none'/);
    assert.doesNotMatch(csp, /script-src[^;]*unsafe/);
    const html = await res.text();
    const src = /<script src="([^"]+)" integrity="(sha384-[^"]+)" nonce="([^"]+)"/.exec(html);
    assert.ok(src, 'the script is external, with integrity and the nonce');
    assert.equal(src[3], nonce);
    const again = (await fetch(`${base}/scenarios/${ID}`)).headers.get('content-security-policy');
    assert.notEqual(again, csp, 'a fresh nonce per response');
    const js = await fetch(`${base}${src[1]}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await fetch(`${base}/scenarios/assets/subject-page.0000000000000000.js`)).status, 404);
  });
});

describe('subject page on the real stack: a log-triage scenario worked through the page terminal', () => {
  let s: Stack;
  let browser: Browser;

  before(async () => {
    s = await startStack();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('a command typed in the page terminal is answered by the container, recorded in the transcript the verdict binds, and the page verifies the verdict', async () => {
    const sat = await s.sat(await s.et('alice', 'acme', 'pro'), 'log-triage', 'forensics');
    const spawned = await s.call('POST', '/api/spawn', sat, {});
    assert.equal(spawned.status, 202, JSON.stringify(spawned.json));
    const id = spawned.json!.scenarioId as string;
    const accessToken = spawned.json!.accessToken;
    assert.equal(typeof accessToken, 'string', 'the spawn answer carries the subject access token');
    await waitFor(`${id} running`, async () => {
      const r = await s.call('GET', `/api/scenarios/${id}`, sat);
      if (r.json?.status === 'failed' || r.json?.status === 'denied') throw new Error(`scenario ${String(r.json.status)}: ${String(r.json.reason)}`);
      return r.json?.status === 'running' ? true : undefined;
    }, 60_000);

    const { page, errors, urls } = await openPage(browser, `${s.base}/scenarios/${id}`);
    await page.fill('#token', accessToken as string);
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('#status-value[data-status="running"]');
    await page.waitForSelector('#terminal-state[data-state="open"], #terminal-state[data-state="error"], #terminal-state[data-state="closed"]', { timeout: 30_000 });
    assert.equal(await page.getAttribute('#terminal-state', 'data-state'), 'open', `terminal: ${await page.textContent('#terminal-state') ?? ''}; ${errors.join(' | ')}`);
    await typeInTerminal(page, 'cat /opt/challenge/README');
    await waitForTerminalText(page, 'Incident on bastion-01');
    await page.screenshot({ path: join(ARTIFACTS, 'subject-page-log-triage.png'), fullPage: true });
    assert.ok(urls.every((u) => !u.includes(accessToken as string)), 'no URL carried the token');
    assert.deepEqual(errors, []);
    await page.close();

    // A second visit, left open until the scenario is scored, verifies the verdict itself.
    const second = await openPage(browser, `${s.base}/scenarios/${id}#token=${encodeURIComponent(accessToken as string)}`);
    await second.page.waitForSelector('#status-value[data-status="running"]');
    // Its terminal open first: one still on its way when the scenario's access closes is refused
    // (4409, "not running"), which is not what this visit is about.
    await second.page.waitForSelector('#terminal-state[data-state="open"]', { timeout: 30_000 });
    const done = await s.call('POST', `/api/scenarios/${id}/complete`, await s.completionToken(id), { outcome: 'success', submission: {} });
    assert.equal(done.status, 202, JSON.stringify(done.json));
    await second.page.waitForSelector('#status-value[data-status="scored"]', { timeout: 90_000 });
    await second.page.waitForSelector('#verdict[data-state="valid"]', { timeout: 30_000 });
    assert.match((await second.page.textContent('#terminal-state')) ?? '', /stopped running|exited/, 'the open terminal says it ended, not that it was refused');
    assert.match((await second.page.textContent('#verdict-state')) ?? '', /VERIFIED: signed by /);
    await second.page.screenshot({ path: join(ARTIFACTS, 'subject-page-verdict.png'), fullPage: true });
    assert.deepEqual(second.errors, []);
    await second.page.close();

    // The session is in the transcript, its recording an asciicast v2 file holding what was typed.
    const evidenceDir = join(resultsDir(s.t.config.storageDir, id), RESULTS.evidenceDir);
    const entries = readFileSync(join(evidenceDir, TRANSCRIPT_FILE), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
    const terminal = entries.find((e) => e.event === 'terminal');
    assert.ok(terminal, `a terminal entry among ${entries.map((e) => String(e.event)).join(', ')}`);
    const recording = (terminal.data as unknown as TerminalData).recording.stored?.path;
    assert.ok(recording, 'the session recording is kept');
    assert.match(recording, /^access\/.*\.cast$/);
    assert.ok(existsSync(join(evidenceDir, recording)));
    const [header, ...events] = readFileSync(join(evidenceDir, recording), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
    assert.equal((header as { version: number }).version, 2);
    const input = (events as Array<[number, string, string]>).filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    assert.match(input, /cat \/opt\/challenge\/README\r/, 'the typed command is recorded as input');
    const output = (events as Array<[number, string, string]>).filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    assert.match(output, /Incident on bastion-01/);
    const manifest = JSON.parse(readFileSync(join(evidenceDir, 'manifest.json'), 'utf8')) as { files: Array<{ path: string }> };
    assert.ok(manifest.files.some((f) => f.path === TRANSCRIPT_FILE), 'the transcript is bound by the signed manifest');
  });
});
