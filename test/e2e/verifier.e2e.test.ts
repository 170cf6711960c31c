// The browser verifier in headless Chromium (Debian's chromium, driven by playwright-core): the
// page served by the API at /verify fetches the JWKS from the same API and checks verdicts in the
// browser; the standalone build does the same from a file:// URL with pasted keys and no network.
// Screenshots of a valid and a tampered verdict are saved under test/artifacts/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Client, Connection } from '@temporalio/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildApp } from '../../api/app.ts';
import { buildVerifierPage } from '../../api/verifier/build.ts';
import { canonicalJson, sha256Hex } from '../../lib/canonical-json.ts';
import { loadSigner, publicJwks, type Jwks, type Signer } from '../../infra/keys.ts';
import { loadPlans } from '../../infra/plans.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import { buildStatement, signStatement, type DsseEnvelope, type VerdictPredicate } from '../../infra/verdict.ts';
import { REPO, testConfig, type TestConfig } from '../support/harness.ts';
import { writeSignedResults } from '../support/signed-results.ts';

const ARTIFACTS = join(REPO, 'test', 'artifacts');
// Without these Chromium reaches for the network (updates, sync, QUIC probes) at start.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('browser verifier (headless Chromium)', () => {
  let t: TestConfig;
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let signer: Signer;
  let jwks: Jwks;
  let scoreBytes: Buffer;
  let predicate: VerdictPredicate;
  let valid: DsseEnvelope;

  before(async () => {
    t = await testConfig();
    // The verifier routes never touch Temporal: a lazy connection that is never used.
    const temporal = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    app = await buildApp({ config: t.config, temporal, plans: loadPlans(), templatesDir: DEFAULT_TEMPLATES_DIR, checks: {} });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    mkdirSync(ARTIFACTS, { recursive: true });

    signer = await loadSigner(t.config.keysDir);
    jwks = await publicJwks(t.config.keysDir);
    scoreBytes = Buffer.from(canonicalJson({ checks: [{ name: 'answered', passed: true }], maxScore: 2, passed: true, score: 2 }));
    predicate = {
      scenarioId: 'scn-6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f',
      subject: 'alice',
      tenant: 'acme',
      plan: 'pro',
      track: 'intro',
      template: { id: 'hello', version: '1', digest: 'a'.repeat(64) },
      policy: { sha256: 'b'.repeat(64), allow: true },
      outcome: 'success',
      status: 'scored',
      score: { score: 2, maxScore: 2, passed: true },
      auditHead: 'c'.repeat(64),
      issuedAt: '2026-01-02T03:04:05.000Z',
      keyId: signer.keyId,
    };
    valid = await signStatement(buildStatement(predicate, { score: sha256Hex(scoreBytes), manifest: 'd'.repeat(64) }), signer);
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    t?.cleanup();
  });

  /** A page whose console errors (a CSP violation, say) and requests are recorded. */
  async function open(url: string): Promise<{ page: Page; errors: string[]; requests: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url);
    return { page, errors, requests };
  }

  async function verify(page: Page, envelope: unknown, keys?: unknown): Promise<{ state: string; failed: string[]; banner: string }> {
    if (keys !== undefined) await page.fill('#jwks', typeof keys === 'string' ? keys : JSON.stringify(keys));
    await page.fill('#envelope', typeof envelope === 'string' ? envelope : JSON.stringify(envelope));
    await page.click('#verify');
    await page.waitForSelector('#result[data-state="valid"], #result[data-state="invalid"]');
    return {
      state: (await page.getAttribute('#result', 'data-state')) ?? '',
      failed: await page.$$eval('#checks li[data-state="fail"]', (lis) => lis.map((li) => li.getAttribute('data-check') ?? '')),
      banner: (await page.textContent('#verdict-state')) ?? '',
    };
  }

  /** The valid envelope with its payload rewritten by `edit` and the signature left as it was. */
  function tamperedPayload(edit: (statementJson: string) => string): DsseEnvelope {
    const json = Buffer.from(valid.payload, 'base64').toString('utf8');
    const edited = edit(json);
    assert.notEqual(edited, json, 'the tampering changed the payload');
    return { ...valid, payload: Buffer.from(edited).toString('base64') };
  }

  it('a valid verdict shows VALID with what it binds, against keys fetched from the API', async () => {
    const { page, errors } = await open(`${base}/verify`);
    await page.click('#fetch-jwks');
    await page.waitForSelector('#jwks-status:text("fetched")');
    await page.setInputFiles('#artifacts', { name: 'score.json', mimeType: 'application/json', buffer: scoreBytes });
    await page.waitForSelector('#artifacts-list:text("score.json")');

    const r = await verify(page, valid);
    assert.equal(r.state, 'valid', r.banner);
    assert.match(r.banner, new RegExp(`VALID: signed by ${signer.keyId}`));
    const states = await page.$$eval('#checks li', (lis) => lis.map((li) => `${li.getAttribute('data-check') ?? ''}=${li.getAttribute('data-state') ?? ''}`));
    assert.deepEqual(states, ['envelope=pass', 'keys=pass', 'key=pass', 'signature=pass', 'statement=pass', 'keyBinding=pass', 'artifact:score.json=pass']);
    assert.equal(await page.textContent('#key-source'), `keys: fetched from ${base}/.well-known/arbiter/keys`);
    const binds = await page.textContent('#binds');
    for (const shown of [predicate.scenarioId, 'alice · acme', 'hello@1', '2 / 2 (passed)', 'b'.repeat(64), sha256Hex(scoreBytes), 'c'.repeat(64)]) assert.ok(binds?.includes(shown), `shows ${shown}`);
    await page.screenshot({ path: join(ARTIFACTS, 'verifier-valid.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no console errors (a CSP violation would show here)');
    await page.close();
  });

  it('a tampered verdict shows INVALID and names the check that failed', async () => {
    const { page, errors } = await open(`${base}/verify`);
    await page.fill('#jwks', JSON.stringify(jwks));
    const r = await verify(page, tamperedPayload((s) => s.replace('"passed":true,"score":2}', '"passed":true,"score":1}')));
    assert.equal(r.state, 'invalid');
    assert.deepEqual(r.failed, ['signature']);
    assert.match(r.banner, /INVALID: the signature does not verify.*changed after signing/);
    assert.match((await page.textContent('#result')) ?? '', /UNVERIFIED/, 'the claimed content is shown as unverified');
    await page.screenshot({ path: join(ARTIFACTS, 'verifier-tampered.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('each kind of tampering fails at its own check', async () => {
    const { page } = await open(`${base}/verify`);
    const otherKey = { ...jwks.keys[0]!, kid: 'not-the-thumbprint' };
    const relabelled = { ...valid, signatures: [{ ...valid.signatures[0]!, keyid: 'someone-else' }] };
    const mislabelled = await signStatement(buildStatement({ ...predicate, keyId: 'a-retired-key' }, { score: sha256Hex(scoreBytes), manifest: 'd'.repeat(64) }), signer);
    const flippedSig = Buffer.from(valid.signatures[0]!.sig, 'base64');
    flippedSig[10] = flippedSig[10]! ^ 0x01;
    const cases: Array<[string, unknown, unknown, string]> = [
      ['not JSON', '{"payloadType":', jwks, 'envelope'],
      ['another payload type', { ...valid, payloadType: 'text/plain' }, jwks, 'envelope'],
      ['a kid that is not the key thumbprint', valid, { keys: [otherKey] }, 'keys'],
      ['a signature by an unknown key id', relabelled, jwks, 'key'],
      ['one flipped signature bit', { ...valid, signatures: [{ ...valid.signatures[0]!, sig: flippedSig.toString('base64') }] }, jwks, 'signature'],
      ['an edited subject digest', tamperedPayload((s) => s.replace('d'.repeat(64), 'e'.repeat(64))), jwks, 'signature'],
      ['a statement naming another key than its signer', mislabelled, jwks, 'keyBinding'],
    ];
    for (const [what, envelope, keys, check] of cases) {
      const r = await verify(page, envelope, keys);
      assert.equal(r.state, 'invalid', what);
      assert.equal(r.failed[0], check, `${what}: ${r.banner}`);
    }
    // A changed score.json against an intact verdict: the artifact check catches it.
    await page.setInputFiles('#artifacts', { name: 'score.json', mimeType: 'application/json', buffer: Buffer.from(scoreBytes.toString().replace('"score":2', '"score":3')) });
    await page.waitForSelector('#artifacts-list:text("score.json")');
    const r = await verify(page, valid, jwks);
    assert.deepEqual(r.failed, ['artifact:score.json']);
    await page.close();
  });

  it('a results folder with a transcript lists its entries; a flipped byte of a terminal recording fails naming the entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-verifier-transcript-'));
    try {
      const { dir: results } = await writeSignedResults(join(dir, 'storage'), signer, {
        transcript: [
          { event: 'exec', cmd: ['ls'], stdout: 'answer.txt\n' },
          { event: 'file.write', path: 'answer.txt', content: 'hello\n' },
          { event: 'exec', cmd: ['cat', 'answer.txt'], stdout: 'hello\n' },
          { event: 'terminal', cast: '{"version":2,"width":80,"height":24}\n[0.1,"o","$ "]\n[0.4,"i","exit\\r"]\n' },
        ],
      });
      const tampered = join(dir, 'tampered', 'results');
      cpSync(results, tampered, { recursive: true });
      const cast = join(tampered, 'evidence', 'access', '000003-terminal.cast');
      const bytes = readFileSync(cast);
      bytes[30] = bytes[30]! ^ 0x04;
      writeFileSync(cast, bytes);

      /** The folder chosen whole: its own verdict.dsse.json fills the envelope box. */
      const check = async (folder: string, screenshot: string) => {
        const { page, errors } = await open(`${base}/verify`);
        await page.fill('#jwks', JSON.stringify(jwks));
        await page.setInputFiles('#artifacts-folder', folder);
        await page.waitForFunction(() => (document.getElementById('envelope') as HTMLTextAreaElement).value.length > 0);
        await page.click('#verify');
        await page.waitForSelector('#result[data-state="valid"], #result[data-state="invalid"]');
        const r = {
          state: (await page.getAttribute('#result', 'data-state')) ?? '',
          transcript: await page.$eval('li[data-check="transcript"]', (li) => `${li.getAttribute('data-state') ?? ''}: ${li.querySelector('.detail')?.textContent ?? ''}`),
          rows: await page.$$eval('#transcript tr[data-seq]', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent).join(' | '))),
          failingRows: await page.$$eval('#transcript tr.fail', (trs) => trs.map((tr) => tr.getAttribute('data-seq'))),
        };
        await page.screenshot({ path: join(ARTIFACTS, screenshot), fullPage: true });
        assert.deepEqual(errors, []);
        await page.close();
        return r;
      };

      const good = await check(results, 'verifier-transcript-valid.png');
      assert.equal(good.state, 'valid', good.transcript);
      assert.equal(good.transcript, 'pass: 4 entries, chain and 4 recording(s) hold');
      assert.deepEqual(good.rows, [
        '0 | exec | subject:user-1 | ls | 0',
        '1 | file.write | subject:user-1 | answer.txt | ok',
        '2 | exec | subject:user-1 | cat answer.txt | 0',
        '3 | terminal | subject:user-1 | terminal session (exited) | 0',
      ]);
      assert.deepEqual(good.failingRows, []);

      const bad = await check(tampered, 'verifier-transcript-tampered.png');
      assert.equal(bad.state, 'invalid');
      assert.equal(bad.transcript, 'fail: evidence/transcript.jsonl entry 3 (terminal): recording access/000003-terminal.cast does not match its digest (changed after it was recorded)');
      assert.deepEqual(bad.failingRows, ['3']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the standalone build verifies from a file:// URL with pasted keys and makes no request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-verifier-'));
    try {
      const file = join(dir, 'verifier.html');
      writeFileSync(file, (await buildVerifierPage()).html);
      const { page, errors, requests } = await open(pathToFileURL(file).href);
      const r = await verify(page, valid, jwks);
      assert.equal(r.state, 'valid', r.banner);
      assert.deepEqual(requests.filter((u) => !u.startsWith('file:')), [], 'nothing but the file itself was loaded');
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('/verify is served with a Content-Security-Policy that allows no script but its own', async () => {
    const res = await fetch(`${base}/verify`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  });
});
