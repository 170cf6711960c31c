/// <reference lib="dom" />
// The verifier page's behaviour: read a verdict envelope (dropped, chosen or pasted) and a JWKS
// (fetched or pasted), run verify.ts, and show what the verdict binds and which check failed.
// Nothing leaves the browser except the JWKS request the user asks for.
import { verifyVerdict, type Check, type VerifyReport } from './verify.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const envelopeText = $<HTMLTextAreaElement>('envelope');
const jwksText = $<HTMLTextAreaElement>('jwks');
const jwksUrl = $<HTMLInputElement>('jwks-url');
const artifactsInput = $<HTMLInputElement>('artifacts');
const artifactsFolder = $<HTMLInputElement>('artifacts-folder');
const result = $<HTMLElement>('result');
const artifacts: Record<string, Uint8Array> = {};
// Where the keys in the JWKS box came from, shown with every result: the user's choice only.
let keySource = 'pasted';

// Served by the API, the keys are next door; opened as a file, the user says where they are.
if (location.protocol === 'http:' || location.protocol === 'https:') jwksUrl.value = new URL('/.well-known/arbiter/keys', location.href).href;

async function fetchJwks(): Promise<void> {
  const status = $<HTMLElement>('jwks-status');
  status.textContent = 'fetching…';
  try {
    const res = await fetch(jwksUrl.value, { headers: { accept: 'application/json' }, credentials: 'omit' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    jwksText.value = JSON.stringify(await res.json(), null, 2);
    keySource = `fetched from ${jwksUrl.value}`;
    status.textContent = keySource;
  } catch (err) {
    status.textContent = `could not fetch the keys (${err instanceof Error ? err.message : String(err)}): paste them instead`;
  }
}

function el(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const MARK: Record<Check['state'], string> = { pass: '✓', warn: '⚠', fail: '✗', skip: '–' };

/** What a failed check means, in a few words, for the banner. */
function failureTitle(c: Check): string {
  if (c.id === 'artifact:verdict.json') return 'verdict.json was edited after signing';
  if (c.id === 'artifact:audit.jsonl') return 'the audit chain is broken';
  if (c.id === 'transcript') return 'the transcript of subject access does not hold';
  if (c.id.startsWith('artifact:')) return `${c.id.slice('artifact:'.length)} does not match its signed digest`;
  const titles: Record<string, string> = {
    envelope: 'the envelope is malformed',
    keys: 'the public keys are unusable',
    key: 'signed by a key that is not in the JWKS',
    signature: 'the signature does not verify',
    statement: 'the payload is not an Arbiter verdict',
    keyBinding: 'the statement names another key than its signer',
  };
  return titles[c.id] ?? c.label;
}

function render(report: VerifyReport): void {
  result.replaceChildren();
  result.dataset.state = report.valid ? 'valid' : 'invalid';
  const headline = report.valid ? `VALID: signed by ${report.keyId ?? '?'}` : `INVALID: ${report.failed ? failureTitle(report.failed) : 'not every check passed'}`;
  result.append(el('div', { id: 'verdict-state', class: report.valid ? 'banner ok' : 'banner bad' },
    el('strong', {}, headline), el('span', {}, report.valid ? 'every check below passed' : report.failed?.detail ?? '')));
  result.append(el('p', { id: 'key-source' }, `keys: ${report.keySource}`));
  for (const c of report.checks.filter((x) => x.state === 'warn')) result.append(el('p', { class: 'banner warn', 'data-warning': c.id }, `⚠ ${c.detail}`));

  const list = el('ol', { id: 'checks' });
  for (const c of report.checks) {
    list.append(el('li', { 'data-check': c.id, 'data-state': c.state, class: c.state }, el('span', { class: 'mark' }, MARK[c.state]), el('strong', {}, c.label), el('span', { class: 'detail' }, c.detail)));
  }
  result.append(el('h2', {}, 'Checks'), list);

  renderTranscript(report);

  if (!report.claims) return;
  const p = report.claims;
  const rows: Array<[string, string]> = [
    ['scenario', p.scenarioId],
    ['status · outcome', `${p.status} · ${p.outcome}`],
    ['score', `${p.score.score} / ${p.score.maxScore} (${p.score.passed ? 'passed' : 'not passed'})`],
    ['subject · tenant', `${p.subject} · ${p.tenant}`],
    ['plan · track', `${p.plan} · ${p.track}`],
    ['template', `${p.template.id}@${p.template.version}  sha256:${p.template.digest}`],
    ['policy', `sha256:${p.policy.sha256} (${p.policy.allow ? 'allowed' : 'denied'})`],
    ...(report.subjects ?? []).map((s): [string, string] => [s.name, `sha256:${s.sha256}`]),
    ['audit chain head', p.auditHead],
    ['issued at', p.issuedAt],
    ['key id', p.keyId],
  ];
  const table = el('table', { id: 'binds' });
  for (const [k, v] of rows) table.append(el('tr', { 'data-field': k }, el('th', {}, k), el('td', {}, v)));
  result.append(
    el('h2', {}, report.valid ? 'What this verdict binds' : 'What the payload claims (UNVERIFIED: do not rely on it)'),
    el('div', { class: report.valid ? '' : 'unverified' }, table),
  );
}

/** Who did what in the scenario, one row per entry; the entries a problem names are marked. */
function renderTranscript(report: VerifyReport): void {
  const t = report.transcript;
  if (!t) return;
  const failing = new Set(t.failing);
  const table = el('table', { id: 'transcript' }, el('tr', {}, ...['seq', 'event', 'actor', 'command or path', 'exit code'].map((h) => el('th', {}, h))));
  for (const r of t.entries) {
    table.append(el('tr', { 'data-seq': r.seq, 'data-line': String(r.line), class: failing.has(r.line) ? 'fail' : '' },
      el('td', {}, r.seq), el('td', {}, r.event), el('td', {}, r.actor), el('td', {}, r.what), el('td', {}, r.exitCode)));
  }
  const verified = report.valid ? '' : ' (UNVERIFIED: do not rely on it)';
  result.append(el('h2', {}, `Transcript: ${t.entries.length} entr${t.entries.length === 1 ? 'y' : 'ies'}${verified}`), el('div', { class: report.valid ? '' : 'unverified' }, table));
}

function verify(): void {
  render(verifyVerdict(envelopeText.value, jwksText.value, artifacts, { keySource }));
}

async function readInto(target: HTMLTextAreaElement, file: File | undefined): Promise<void> {
  if (file) target.value = await file.text();
}

$<HTMLButtonElement>('verify').addEventListener('click', verify);
$<HTMLButtonElement>('fetch-jwks').addEventListener('click', () => { void fetchJwks(); });
$<HTMLInputElement>('envelope-file').addEventListener('change', (e) => {
  void readInto(envelopeText, (e.target as HTMLInputElement).files?.[0]);
});
$<HTMLInputElement>('jwks-file').addEventListener('change', (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  void readInto(jwksText, file).then(() => { if (file) keySource = `from the file ${file.name} you chose`; });
});
jwksText.addEventListener('input', () => { keySource = 'pasted'; });
// A folder's files come with their path under it ("results/evidence/access/…"): the folder's own
// name is dropped, so the paths are the ones the verdict and its manifest use.
async function addArtifacts(input: HTMLInputElement, pathOf: (f: File) => string): Promise<void> {
  for (const f of Array.from(input.files ?? [])) artifacts[pathOf(f)] = new Uint8Array(await f.arrayBuffer());
  $<HTMLElement>('artifacts-list').textContent = Object.keys(artifacts).join(', ');
}
artifactsInput.addEventListener('change', () => { void addArtifacts(artifactsInput, (f) => f.name); });
artifactsFolder.addEventListener('change', () => {
  void addArtifacts(artifactsFolder, (f) => (f.webkitRelativePath || f.name).split('/').slice(1).join('/') || f.name).then(() => {
    // A results folder holds its own envelope: with none given yet, that is the one to verify.
    const envelope = artifacts['verdict.dsse.json'];
    if (envelope && !envelopeText.value.trim()) envelopeText.value = new TextDecoder().decode(envelope);
  });
});

// Dropping a verdict anywhere on the page reads it and verifies at once when keys are present.
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => {
  e.preventDefault();
  const file = e.dataTransfer?.files[0];
  if (!file) return;
  void readInto(envelopeText, file).then(() => { if (jwksText.value.trim()) verify(); });
});
