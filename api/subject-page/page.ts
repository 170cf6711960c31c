/// <reference lib="dom" />
// The subject's page for one scenario (CONTRACT "Subject access", GET /scenarios/:id): the live
// status, a terminal in the scenario's container while it runs, and, once scored, the verdict
// checked in this browser with the verifier's own code. The token is held in this tab only and
// travels in an Authorization header or the terminal's first message, never in a URL.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import type { ScenarioStatus } from '../../contract/scenario.ts';
import { verifyVerdict } from '../verifier/verify.ts';

// xterm's DOM renderer writes its theme and cell metrics into <style> elements it creates. This
// page's CSP applies only styles carrying the response's nonce, so each one is given it as it is
// made (the nonce is read from our own stylesheet link, where the server put it).
const styleNonce = document.querySelector<HTMLLinkElement>('link[rel=stylesheet]')?.nonce ?? '';
const createElement = document.createElement.bind(document);
document.createElement = (tagName: string, options?: ElementCreationOptions): HTMLElement => {
  const created = createElement(tagName, options);
  if (created instanceof HTMLStyleElement) created.nonce = styleNonce;
  return created;
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Whether the scenario can still change; the type makes a new status a compile error here. */
const ENDED: Record<ScenarioStatus, boolean> = {
  pending: false, launching: false, running: false, scoring: false,
  denied: true, scored: true, failed: true, timed_out: true, cancelled: true, expired: true,
};
const POLL_MS = 2000;

const CLOSE_REASONS: Record<number, string> = {
  4401: 'the terminal refused the token (expired, or not one for this scenario): give it again',
  4403: "this scenario's plan does not grant terminal access",
  4409: 'the scenario is not running, so there is no terminal',
  4429: 'too many terminal sessions are open for this scenario: close one, then reconnect',
};

const scenarioId = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() ?? '');
const storageKey = `arbiter:token:${scenarioId}`;
const api = (suffix = '') => `/api/scenarios/${encodeURIComponent(scenarioId)}${suffix}`;
$('scenario-id').textContent = scenarioId;

// A link may carry the token in its fragment, which browsers never send to a server; it moves
// into this tab's storage and out of the address bar and history at once.
const fromFragment = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromFragment) {
  sessionStorage.setItem(storageKey, fromFragment);
  history.replaceState(null, '', location.pathname);
}

let token = sessionStorage.getItem(storageKey) ?? '';
let pollTimer: ReturnType<typeof setTimeout> | undefined;
let lastStatus: ScenarioStatus | undefined;
let verdictShown = false;

function showSignedIn(on: boolean): void {
  $('token-form').hidden = on;
  $('signed-in').hidden = !on;
}

function setToken(value: string): void {
  token = value;
  if (value) sessionStorage.setItem(storageKey, value);
  else sessionStorage.removeItem(storageKey);
  showSignedIn(Boolean(value));
}

function accessError(message: string): void {
  $('access-error').textContent = message;
}

async function getJson(url: string, auth: boolean): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  const res = await fetch(url, { headers: { accept: 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}) }, credentials: 'omit', cache: 'no-store' });
  const text = await res.text();
  let body: Record<string, unknown> | undefined;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

const errorMessage = (body: Record<string, unknown> | undefined): string => {
  const e = body?.error as { message?: unknown } | undefined;
  return typeof e?.message === 'string' ? e.message : '';
};

// --- status --------------------------------------------------------------------------------

function showStatus(s: Record<string, unknown>): void {
  const status = String(s.status);
  const shown = $('status-value');
  if (shown.dataset.status !== status) {
    shown.dataset.status = status;
    shown.textContent = status;
  }
  $('template-value').textContent = `${String(s.template)}@${String(s.templateVersion)} (track ${String(s.track)})`;
  $('created-value').textContent = typeof s.createdAt === 'string' ? new Date(s.createdAt).toLocaleString() : '–';
  $('reason-value').textContent = typeof s.reason === 'string' ? s.reason : '–';
}

async function poll(): Promise<void> {
  pollTimer = undefined;
  if (!token) return;
  let r: Awaited<ReturnType<typeof getJson>>;
  try {
    r = await getJson(api(), true);
  } catch {
    accessError('the API did not answer; retrying');
    pollTimer = setTimeout(() => void poll(), POLL_MS);
    return;
  }
  if (r.status === 401 || r.status === 403 || r.status === 404) {
    const why = r.status === 401 ? 'the token was refused (expired or malformed)' : r.status === 403 ? 'this token may not read this scenario' : 'no such scenario, or not one this token may read';
    accessError(`${why}${errorMessage(r.body) ? `: ${errorMessage(r.body)}` : ''}`);
    setToken('');
    closeTerminal('signed out');
    return;
  }
  if (r.status !== 200 || !r.body) {
    accessError(`the API answered ${r.status}; retrying`);
    pollTimer = setTimeout(() => void poll(), POLL_MS);
    return;
  }
  accessError('');
  const status = r.body.status as ScenarioStatus;
  showStatus(r.body);
  if (status === 'running' && lastStatus !== 'running') openTerminal();
  lastStatus = status;
  $('connect').hidden = status !== 'running' || socket !== undefined;
  if (status === 'scored' && !verdictShown) {
    verdictShown = true;
    void showVerdict();
  }
  if (!ENDED[status]) pollTimer = setTimeout(() => void poll(), POLL_MS);
}

function start(): void {
  if (pollTimer) clearTimeout(pollTimer);
  lastStatus = undefined;
  void poll();
}

// --- terminal ------------------------------------------------------------------------------

const term = new Terminal({ cursorBlink: true, fontFamily: 'ui-monospace, Menlo, Consolas, monospace', fontSize: 14, scrollback: 5000 });
const fit = new FitAddon();
term.loadAddon(fit);
let termOpened = false;
let socket: WebSocket | undefined;
const encoder = new TextEncoder();

function terminalState(state: 'idle' | 'connecting' | 'open' | 'closed' | 'error', text: string): void {
  const el = $('terminal-state');
  el.dataset.state = state;
  el.textContent = text;
}

// What the subject types before the terminal has said anything waits here: until then the server
// may still be checking the token and reaching the container's host, and a frame it gets before
// it is listening for keystrokes would be lost. The first frame it sends means it is listening.
let heard = false;
const pending: Array<string | Uint8Array> = [];

function send(data: string | Uint8Array): void {
  if (socket?.readyState !== WebSocket.OPEN) return;
  if (heard) socket.send(data);
  else pending.push(data);
}

term.onData((data) => send(encoder.encode(data)));
// Some key sequences (old mouse reports) are bytes, not text: one byte per code unit.
term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff)));
term.onResize(({ cols, rows }) => send(JSON.stringify({ resize: { cols, rows } })));

function openTerminal(): void {
  if (socket || !token) return;
  $('terminal-section').hidden = false;
  if (!termOpened) {
    term.open($('terminal'));
    termOpened = true;
    new ResizeObserver(() => fit.fit()).observe($('terminal'));
  }
  fit.fit();
  term.reset();
  const url = new URL(api('/terminal'), location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  socket = ws;
  heard = false;
  pending.length = 0;
  $('connect').hidden = true;
  terminalState('connecting', 'connecting…');
  let exitCode: number | undefined;
  ws.addEventListener('open', () => {
    // The token goes in the first frame, never in the URL, where logs and proxies would keep it.
    ws.send(JSON.stringify({ token, cols: term.cols, rows: term.rows }));
    term.focus();
  });
  ws.addEventListener('message', (e: MessageEvent<ArrayBuffer | string>) => {
    if (!heard && socket === ws) {
      heard = true;
      terminalState('open', 'connected');
      for (const data of pending.splice(0)) ws.send(data);
    }
    if (typeof e.data !== 'string') {
      term.write(new Uint8Array(e.data));
      return;
    }
    try {
      const msg = JSON.parse(e.data) as { exit?: unknown };
      if (typeof msg.exit === 'number') exitCode = msg.exit;
    } catch {
      // a control message this page does not know: ignored
    }
  });
  ws.addEventListener('close', (e) => {
    if (socket !== ws) return;
    socket = undefined;
    const known = CLOSE_REASONS[e.code];
    // 4409 on a session that was working is the scenario ending (completed, cancelled, timed out), not a refusal.
    if (e.code === 4409 && heard) terminalState('closed', 'the scenario stopped running, and its terminal with it');
    else if (known) terminalState('error', known);
    else if (exitCode !== undefined) terminalState('closed', `the shell exited with code ${exitCode}`);
    else terminalState('closed', `disconnected${e.reason ? `: ${e.reason}` : ''} (code ${e.code})`);
    if (e.code === 4401) {
      setToken('');
      accessError(known!);
    }
    $('connect').hidden = lastStatus !== 'running' || e.code === 4403;
  });
}

function closeTerminal(why: string): void {
  const ws = socket;
  socket = undefined;
  ws?.close(1000, why);
  if (ws) terminalState('closed', why);
}

$<HTMLButtonElement>('connect').addEventListener('click', openTerminal);
$<HTMLInputElement>('screen-reader').addEventListener('change', (e) => {
  term.options.screenReaderMode = (e.target as HTMLInputElement).checked;
});

// --- verdict -------------------------------------------------------------------------------

function el(tag: string, attrs: Record<string, string>, ...children: Array<Node | string>): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

async function showVerdict(): Promise<void> {
  $('verdict-section').hidden = false;
  const box = $('verdict');
  box.textContent = 'checking the signed verdict in this browser…';
  try {
    const v = await getJson(api('/verdict'), true);
    if (v.status !== 200 || !v.body) throw new Error(`the verdict could not be read (HTTP ${v.status}${errorMessage(v.body) ? `: ${errorMessage(v.body)}` : ''})`);
    // The published keys, fetched without the token: the same ones `arbiter verify` and /verify use.
    const keysUrl = new URL('/.well-known/arbiter/keys', location.href).href;
    const k = await getJson(keysUrl, false);
    if (k.status !== 200 || !k.body) throw new Error(`the public keys could not be fetched (HTTP ${k.status})`);
    const report = verifyVerdict(JSON.stringify(v.body.envelope), JSON.stringify(k.body), {}, { keySource: `fetched from ${keysUrl}` });
    box.dataset.state = report.valid ? 'valid' : 'invalid';
    const c = report.claims;
    box.replaceChildren(
      el('div', { id: 'verdict-state', class: report.valid ? 'banner ok' : 'banner bad' },
        el('strong', {}, report.valid ? `VERIFIED: signed by ${report.keyId ?? '?'}` : `NOT VERIFIED: ${report.failed?.label ?? 'a check failed'}`),
        el('span', {}, report.valid ? 'the signature and every check passed in this browser' : report.failed?.detail ?? '')),
      ...(report.valid && c ? [el('p', { id: 'verdict-score' }, `score ${c.score.score} / ${c.score.maxScore} (${c.score.passed ? 'passed' : 'not passed'}), outcome ${c.outcome}`)] : []),
      el('p', { class: 'hint' }, `keys: ${report.keySource}`),
    );
  } catch (err) {
    box.dataset.state = 'error';
    box.textContent = err instanceof Error ? err.message : String(err);
  }
}

// --- start ---------------------------------------------------------------------------------

$<HTMLFormElement>('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>('token');
  const given = input.value.trim();
  input.value = '';
  if (!given) return;
  accessError('');
  setToken(given);
  start();
});
$<HTMLButtonElement>('forget').addEventListener('click', () => {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = undefined;
  closeTerminal('signed out');
  setToken('');
});

showSignedIn(Boolean(token));
if (token) start();
