// lib/transcript.ts on its own: the chain catches a dropped or edited entry, the digests catch a
// changed recorded byte, and every problem names the entry it belongs to.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendEvent, serializeChain, type AuditEntry } from '../../lib/audit-chain.ts';
import { sha256Hex } from '../../lib/canonical-json.ts';
import { referencedFiles, verifyTranscript, type TranscriptCheck } from '../../lib/transcript.ts';
import { buildTranscript, type Interaction } from '../support/signed-results.ts';

const INTERACTIONS: Interaction[] = [
  { event: 'exec', cmd: ['ls', '-la'], stdout: 'total 0\n' },
  { event: 'file.write', path: 'answer.txt', content: 'hello\n' },
  { event: 'exec', cmd: ['cat', 'answer.txt'], stdin: 'x', stdout: 'hello\n', stderr: 'warning\n', exitCode: 1 },
  { event: 'terminal', cast: '{"version":2,"width":80,"height":24}\n[0.1,"o","$ "]\n[0.5,"i","exit\\r"]\n' },
  { event: 'file.read', path: '/etc/hostname', content: 'box\n' },
];

function check(text: string, files: Record<string, Buffer>, opts: { onRead?: (path: string) => void } = {}): TranscriptCheck {
  return verifyTranscript(text, (path) => {
    opts.onRead?.(path);
    return files[path] ?? 'the file is missing';
  });
}
const problemsOf = (r: TranscriptCheck) => (r.ok ? [] : r.problems);
const linesOf = (text: string) => text.split('\n').filter(Boolean);
const join = (lines: string[]) => lines.map((l) => `${l}\n`).join('');

/** A transcript of hand-made entries, for digests the builder would never write. */
function handMade(datas: Array<{ event: string; data: Record<string, unknown> }>): string {
  const chain: AuditEntry[] = [];
  for (const d of datas) chain.push(appendEvent(chain, { time: '2024-01-01T00:00:00.000Z', actor: 'subject:user-1', ...d }));
  return serializeChain(chain);
}

describe('transcript: chain and recorded bytes', () => {
  it('when untouched, it verifies, returns every entry and references every recorded file', () => {
    const { files, entries } = buildTranscript(INTERACTIONS);
    const r = check(files['transcript.jsonl']!.toString(), files);
    assert.ok(r.ok, JSON.stringify(problemsOf(r)));
    assert.equal(r.entries.length, 5);
    assert.deepEqual(referencedFiles(entries).sort(), Object.keys(files).filter((f) => f.startsWith('access/')).sort());
    assert.deepEqual(referencedFiles(entries), ['access/000000-stdout', 'access/000001-content', 'access/000002-stdin', 'access/000002-stdout', 'access/000002-stderr', 'access/000003-terminal.cast', 'access/000004-content']);
  });

  it('when the caller hashes with its own sha256 (node:crypto here, the browser its own), it agrees', () => {
    const { files } = buildTranscript(INTERACTIONS);
    const r = verifyTranscript(files['transcript.jsonl']!.toString(), (p) => files[p] ?? 'missing', (b) => createHash('sha256').update(b).digest('hex'));
    assert.ok(r.ok);
  });

  it('when a middle entry is dropped, the chain breaks at the entry that now stands in its place', () => {
    const { files } = buildTranscript(INTERACTIONS);
    const lines = linesOf(files['transcript.jsonl']!.toString());
    const r = check(join([...lines.slice(0, 2), ...lines.slice(3)]), files);
    assert.deepEqual(problemsOf(r), ['transcript.jsonl: chain broken: entry 2 has sequence 3 (deleted, inserted or reordered)']);
  });

  it('when an entry\'s exit code is edited, the chain names that entry', () => {
    const { files } = buildTranscript(INTERACTIONS);
    const lines = linesOf(files['transcript.jsonl']!.toString());
    lines[2] = lines[2]!.replace('"exitCode":1', '"exitCode":0');
    assert.deepEqual(problemsOf(check(join(lines), files)), ['transcript.jsonl: chain broken: entry 2 was modified (hash mismatch)']);
  });

  it('when one byte of a recorded terminal session is flipped, the problem names the entry, its event and the file', () => {
    const { files } = buildTranscript(INTERACTIONS);
    const cast = Buffer.from(files['access/000003-terminal.cast']!);
    cast[20] = cast[20]! ^ 0x01;
    const r = check(files['transcript.jsonl']!.toString(), { ...files, 'access/000003-terminal.cast': cast });
    assert.deepEqual(problemsOf(r), ['transcript.jsonl entry 3 (terminal): recording access/000003-terminal.cast does not match its digest (changed after it was recorded)']);
  });

  it('when an exec\'s stdout recording is truncated or missing, the problem names the entry and the stream', () => {
    const { files } = buildTranscript(INTERACTIONS);
    const truncated = check(files['transcript.jsonl']!.toString(), { ...files, 'access/000002-stdout': Buffer.from('hell') });
    assert.deepEqual(problemsOf(truncated), ['transcript.jsonl entry 2 (exec): stdout recording access/000002-stdout does not match its digest (changed after it was recorded)']);
    const { ['access/000002-stderr']: _gone, ...rest } = files;
    assert.deepEqual(problemsOf(check(files['transcript.jsonl']!.toString(), rest)), ['transcript.jsonl entry 2 (exec): stderr recording access/000002-stderr: the file is missing']);
  });

  it('when a stream was capped, the kept prefix verifies against its own digest and the stream keeps the whole one', () => {
    const big = 'x'.repeat(100);
    const { files, entries } = buildTranscript([{ event: 'exec', cmd: ['yes'], stdout: big }], 10);
    assert.equal(files['access/000000-stdout']!.length, 10);
    const stdout = (entries[0]!.data as { stdout: { size: number; sha256: string } }).stdout;
    assert.deepEqual([stdout.size, stdout.sha256], [100, sha256Hex(big)]);
    assert.ok(check(files['transcript.jsonl']!.toString(), files).ok);
  });

  it('when a stored file is longer than the stream it claims to be a prefix of, the entry is named', () => {
    const text = handMade([{ event: 'exec', data: { stdin: { size: 0, sha256: sha256Hex('') }, stderr: { size: 0, sha256: sha256Hex('') }, stdout: { size: 2, sha256: sha256Hex('hi'), stored: { path: 'access/000000-stdout', size: 5, sha256: sha256Hex('hello') } } } }]);
    assert.deepEqual(problemsOf(check(text, { 'access/000000-stdout': Buffer.from('hello') })), ['transcript.jsonl entry 0 (exec): stdout recording access/000000-stdout is longer than the stream']);
  });

  it('when a stored file is the whole stream but its digest is not the stream\'s, the entry is named', () => {
    const text = handMade([{ event: 'file.read', data: { content: { size: 5, sha256: sha256Hex('HELLO'), stored: { path: 'access/000000-content', size: 5, sha256: sha256Hex('hello') } } } }]);
    assert.deepEqual(problemsOf(check(text, { 'access/000000-content': Buffer.from('hello') })), ['transcript.jsonl entry 0 (file.read): content recording access/000000-content is whole but its digest is not the stream\'s']);
  });

  it('when a recording path leaves access/ (.., another folder, absolute), it is named and never read', () => {
    const reads: string[] = [];
    for (const path of ['access/../score.json', '../audit.jsonl', '/etc/passwd', 'files/work/answer.txt', 'accessx/1']) {
      const text = handMade([{ event: 'file.write', data: { content: { size: 1, sha256: sha256Hex('x'), stored: { path, size: 1, sha256: sha256Hex('x') } } } }]);
      const r = check(text, { [path]: Buffer.from('x') }, { onRead: (p) => reads.push(p) });
      assert.deepEqual(problemsOf(r), ['transcript.jsonl entry 0 (file.write): content names a recording outside access/'], path);
    }
    assert.deepEqual(reads, []);
  });

  it('when two entries name the same recording, the second is named', () => {
    const digest = { size: 2, sha256: sha256Hex('ok'), stored: { path: 'access/000000-content', size: 2, sha256: sha256Hex('ok') } };
    const text = handMade([{ event: 'file.read', data: { content: digest } }, { event: 'file.write', data: { content: digest } }]);
    assert.deepEqual(problemsOf(check(text, { 'access/000000-content': Buffer.from('ok') })), ['transcript.jsonl entry 1 (file.write): content names access/000000-content, which another entry also names']);
  });

  it('when a stream has no size or sha256, the entry is named', () => {
    const text = handMade([{ event: 'terminal', data: { recording: { size: '3' } } }]);
    assert.deepEqual(problemsOf(check(text, {})), ['transcript.jsonl entry 0 (terminal): recording has no size and sha256']);
  });
});
