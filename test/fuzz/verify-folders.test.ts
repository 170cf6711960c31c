// Properties of the offline verifier over adversarial results folders: starting from a real signed
// folder, random edits (files rewritten, flipped, deleted, added; links, loops, FIFOs, device
// nodes, sparse giants, folders, appended audit entries; odd names). Whatever the folder, the
// verifier answers within a bound, passes only when the folder is exactly what was signed, and
// names a path that changed when it fails. The folder holds a transcript of subject access.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { appendEvent, serializeChain, type AuditEntry } from '../../lib/audit-chain.ts';
import { sha256Hex } from '../../lib/canonical-json.ts';
import { generateKey, loadSigner, type Signer } from '../../infra/keys.ts';
import { verifyResults } from '../../infra/results.ts';
import { kindOf } from '../../infra/untrusted-files.ts';
import { runArbiter, writeSignedResults } from '../support/signed-results.ts';
import { tempDir } from '../unit/helpers.ts';

const root = tempDir();
after(() => rmSync(root, { recursive: true, force: true }));

const FOLDERS = ['', 'evidence', 'evidence/files', 'evidence/files/work', 'evidence/access'] as const;
const FILES = ['score.json', 'audit.jsonl', 'verdict.json', 'verdict.dsse.json', 'evidence/manifest.json', 'evidence/container.log', 'evidence/exit.json', 'evidence/files/work/answer.txt',
  'evidence/transcript.jsonl', 'evidence/access/000000-stdout', 'evidence/access/000001-terminal.cast'] as const;

type Mutation =
  | { kind: 'rewrite'; file: string; same: boolean; bytes: Uint8Array }
  | { kind: 'flip'; file: string; at: number; mask: number }
  | { kind: 'delete'; path: string }
  | { kind: 'add'; folder: string; name: string; bytes: Uint8Array }
  | { kind: 'link'; folder: string; name: string; target: string }
  | { kind: 'replaceWithLink'; file: string }
  | { kind: 'fifo' | 'device' | 'folder'; folder: string; name: string }
  | { kind: 'sparse'; folder: string; name: string; size: number }
  | { kind: 'appendAudit'; event: string };

const name = fc.oneof(
  fc.constantFrom('manifest.json', 'jwks.json', '.hidden', ' ', 'a b', 'é', 'score.json.tmp', 'x'.repeat(200), 'files'),
  fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes('/') && !s.includes('\0') && s !== '.' && s !== '..'),
);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('rewrite' as const), file: fc.constantFrom(...FILES), same: fc.boolean(), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant('flip' as const), file: fc.constantFrom(...FILES), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom(...FILES, 'evidence/files', 'evidence/access', 'evidence') }),
  fc.record({ kind: fc.constant('add' as const), folder: fc.constantFrom(...FOLDERS), name, bytes: fc.uint8Array({ maxLength: 32 }) }),
  fc.record({ kind: fc.constant('link' as const), folder: fc.constantFrom(...FOLDERS), name, target: fc.constantFrom('.', '..', 'loop', '/dev/zero', '/etc/passwd', 'container.log') }),
  fc.record({ kind: fc.constant('replaceWithLink' as const), file: fc.constantFrom(...FILES) }),
  fc.record({ kind: fc.constantFrom('fifo' as const, 'device' as const, 'folder' as const), folder: fc.constantFrom(...FOLDERS), name }),
  fc.record({ kind: fc.constant('sparse' as const), folder: fc.constantFrom(...FOLDERS), name, size: fc.constantFrom(2 * 1024 ** 3, 300 * 1024 ** 2, 24) }),
  fc.record({ kind: fc.constant('appendAudit' as const), event: fc.constantFrom('score.override', 'retention.hold') }),
);

/** Applies a mutation; returns the path it touched (relative to the results folder), or undefined when it could not apply. */
function apply(dir: string, m: Mutation): string | undefined {
  const at = (rel: string) => join(dir, rel);
  const exists = (rel: string) => { try { lstatSync(at(rel)); return true; } catch { return false; } };
  const isDir = (rel: string) => exists(rel) && lstatSync(at(rel)).isDirectory();
  const fresh = (folder: string, n: string) => { const rel = folder ? `${folder}/${n}` : n; return isDir(folder) && !exists(rel) ? rel : undefined; };
  const isFile = (rel: string) => exists(rel) && lstatSync(at(rel)).isFile();
  switch (m.kind) {
    case 'rewrite':
      if (!isFile(m.file)) return undefined;
      writeFileSync(at(m.file), m.same ? readFileSync(at(m.file)) : m.bytes);
      return m.file;
    case 'flip': {
      if (!isFile(m.file)) return undefined;
      const bytes = readFileSync(at(m.file));
      if (bytes.length === 0) return undefined;
      const i = m.at % bytes.length;
      bytes[i] = bytes[i]! ^ m.mask;
      writeFileSync(at(m.file), bytes);
      return m.file;
    }
    case 'delete':
      if (!exists(m.path)) return undefined;
      rmSync(at(m.path), { recursive: true });
      return m.path;
    case 'add': { const rel = fresh(m.folder, m.name); if (rel) writeFileSync(at(rel), m.bytes); return rel; }
    case 'link': { const rel = fresh(m.folder, m.name); if (rel) symlinkSync(m.target === 'loop' ? m.name : m.target, at(rel)); return rel; }
    case 'replaceWithLink': {
      if (!isFile(m.file)) return undefined;
      cpSync(at(m.file), `${dir}.copy-${m.file.replace(/\//g, '_')}`);
      rmSync(at(m.file));
      symlinkSync(`${dir}.copy-${m.file.replace(/\//g, '_')}`, at(m.file));
      return m.file;
    }
    case 'fifo': { const rel = fresh(m.folder, m.name); if (rel) execFileSync('mkfifo', [at(rel)]); return rel; }
    case 'device': { const rel = fresh(m.folder, m.name); if (rel) execFileSync('mknod', [at(rel), 'c', '1', '3']); return rel; }
    case 'folder': { const rel = fresh(m.folder, m.name); if (rel) mkdirSync(at(rel)); return rel; }
    case 'sparse': { const rel = fresh(m.folder, m.name); if (rel) { writeFileSync(at(rel), ''); truncateSync(at(rel), m.size); } return rel; }
    case 'appendAudit': {
      if (!isFile('audit.jsonl')) return undefined;
      let chain: AuditEntry[];
      try {
        chain = readFileSync(at('audit.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
      } catch {
        return undefined;
      }
      appendFileSync(at('audit.jsonl'), serializeChain([appendEvent(chain, { time: '2024-02-01T00:00:00.000Z', actor: 'mallory', event: m.event })]));
      return 'audit.jsonl';
    }
  }
}

/** What the folder is, without following anything: kinds, link targets, and contents of small files. */
function snapshot(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const n of readdirSync(rel ? join(dir, rel) : dir).sort()) {
    const path = rel ? `${rel}/${n}` : n;
    const s = lstatSync(join(dir, path));
    const kind = kindOf(s);
    if (kind === 'directory') out.push(`${path}/`, ...snapshot(dir, path));
    else if (kind === 'symbolic link') out.push(`${path} -> ${readlinkSync(join(dir, path))}`);
    else if (kind === 'file') out.push(`${path} ${s.size} ${s.size <= 1024 * 1024 ? sha256Hex(readFileSync(join(dir, path))) : 'large'}`);
    else out.push(`${path} ${kind}`);
  }
  return out;
}

let signer: Signer;
let template: string;
let jwksFile: string;
let count = 0;

before(async () => {
  await generateKey(join(root, 'keys'));
  signer = await loadSigner(join(root, 'keys'));
  // With a transcript of subject access, so its checks meet every kind of edit too.
  template = (await writeSignedResults(join(root, 'template'), signer, {
    transcript: [
      { event: 'exec', cmd: ['cat', 'answer.txt'], stdout: 'hello\n' },
      { event: 'terminal', cast: '{"version":2,"width":80,"height":24}\n[0.1,"o","$ "]\n' },
    ],
  })).dir;
  jwksFile = join(root, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [signer.publicJwk] }));
});

function mutated(mutations: Mutation[]): { dir: string; touched: string[]; changed: boolean } {
  const dir = join(root, `case-${count++}`, 'results');
  cpSync(template, dir, { recursive: true });
  const touched = mutations.map((m) => apply(dir, m)).filter((p): p is string => p !== undefined);
  return { dir, touched, changed: snapshot(dir).join('\n') !== snapshot(template).join('\n') };
}

const names = (touched: string[], text: string) => touched.some((t) => text.includes(t) || (t.startsWith('evidence/') && text.includes(t.slice('evidence/'.length))) || (t === 'verdict.dsse.json' && /signature:/.test(text)));

void describe('verify, for any adversarial edit of a signed results folder', () => {
  void it('in process: passes (with nothing unsigned) exactly when the folder is unchanged, and otherwise names a path it changed', async () => {
    await fc.assert(fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
      const { dir, touched, changed } = mutated(mutations);
      const started = performance.now();

      const check = await verifyResults(dir, { keys: [signer.publicJwk] });

      assert.ok(performance.now() - started < 10_000, 'answers within 10 s');
      const clean = check.ok && check.unsignedAuditEntries.length === 0;
      assert.equal(clean, !changed, `${JSON.stringify(touched)}: ${JSON.stringify(check.ok ? check.unsignedAuditEntries : check.problems)}`);
      if (changed) {
        const text = check.ok ? 'audit.jsonl' : check.problems.join('\n');
        assert.ok(names(touched, text), `names one of ${JSON.stringify(touched)}: ${text}`);
      }
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }), { numRuns: 150 });
  });

  void it('as a command with --strict: ends within 30 s, exits 0 only for the unchanged folder, and names what broke', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.array(mutation, { minLength: 0, maxLength: 3 }), { minLength: 6, maxLength: 6 }), async (cases) => {
      const folders = cases.map(mutated);

      const r = await runArbiter(['--json', 'verify', '--strict', '--keys', jwksFile, ...folders.map((f) => f.dir)], { killAfterMs: 30_000 });

      assert.equal(r.signal, null, 'ends on its own within the bound');
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { ok?: boolean; dir?: string; problems?: string[] });
      for (const f of folders) {
        const line = lines.find((l) => l.dir === f.dir);
        assert.ok(line, `a line for ${f.dir}`);
        assert.equal(line.ok, !f.changed, `${JSON.stringify(f.touched)}: ${JSON.stringify(line.problems)}`);
        if (f.changed) assert.ok(names(f.touched, (line.problems ?? []).join('\n')), `names one of ${JSON.stringify(f.touched)}: ${JSON.stringify(line.problems)}`);
      }
      assert.equal(r.code, folders.some((f) => f.changed) ? 1 : 0);
    }), { numRuns: 4 });
  });
});
