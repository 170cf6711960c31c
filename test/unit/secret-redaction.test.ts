// Evidence redaction (infra/secret-redaction.ts, activities/collect-evidence.ts redactEvidence): every
// Arbiter token and every named secret is replaced wherever it sits in an evidence file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { redactEvidence } from '../../activities/collect-evidence.ts';
import { REDACTED, redactSecrets } from '../../infra/secret-redaction.ts';
import { completionRing, mintToken } from '../../infra/tokens.ts';

const root = { current: Buffer.alloc(32, 3), previous: [] };
const completion = async (id = 'scn-redact-0001') => (await mintToken('completion', { sub: id }, completionRing(root, id), { ttlSeconds: 60 })).token;

void describe('secret redaction', () => {
  void it('a completion token printed in a log line is replaced, the rest of the line kept', async () => {
    const token = await completion();
    const { bytes, redacted } = redactSecrets(Buffer.from(`host says: token=${token}\nbye\n`));
    assert.equal(bytes.toString(), `host says: token=${REDACTED}\nbye\n`);
    assert.equal(redacted, 1);
  });

  void it('an operator token inside JSON, and the same token twice, are all replaced', async () => {
    const op = (await mintToken('operator', { sub: 'ops', role: 'operator' }, root, { ttlSeconds: 60 })).token;
    const { bytes, redacted } = redactSecrets(Buffer.from(JSON.stringify({ Env: [`A=${op}`], again: op })));
    assert.ok(!bytes.toString().includes(op));
    assert.equal(redacted, 2);
  });

  void it('a JWT that is not Arbiter\'s (another typ) and JWT-like text are left alone', async () => {
    const foreign = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new Uint8Array(32));
    const text = `${foreign} eyJnot.a.token eyJ.b.c`;
    const r = redactSecrets(Buffer.from(text));
    assert.equal(r.bytes.toString(), text);
    assert.equal(r.redacted, 0);
  });

  void it('named secrets are replaced, the longer first, and bytes that are not UTF-8 survive unchanged around them', () => {
    const input = Buffer.concat([Buffer.from([0xff, 0x00, 0xc3]), Buffer.from('s3cret-long s3cret'), Buffer.from([0xfe])]);
    const { bytes, redacted } = redactSecrets(input, ['s3cret', 's3cret-long']);
    assert.deepEqual(bytes, Buffer.concat([Buffer.from([0xff, 0x00, 0xc3]), Buffer.from(`${REDACTED} ${REDACTED}`), Buffer.from([0xfe])]));
    assert.equal(redacted, 2);
  });

  void it('with nothing secret in them, the very same bytes come back', () => {
    const input = Buffer.from([0, 1, 2, 250, 251]);
    assert.equal(redactSecrets(input).bytes, input);
  });

  void it('redactEvidence replaces a token in every file of an evidence folder, nested ones too, and leaves clean files untouched', async () => {
    const token = await completion();
    const dir = mkdtempSync(join(tmpdir(), 'arbiter-redact-'));
    try {
      mkdirSync(join(dir, 'files', 'work'), { recursive: true });
      writeFileSync(join(dir, 'container.log'), `printed ${token}\n`);
      writeFileSync(join(dir, 'inspect.json'), JSON.stringify({ Config: { Env: [`X=${token}`] } }));
      writeFileSync(join(dir, 'files', 'work', 'answer.txt'), `answer ${token}`);
      writeFileSync(join(dir, 'policy.json'), '{"allow":true}');
      assert.equal(redactEvidence(dir), 3);
      for (const f of ['container.log', 'inspect.json', join('files', 'work', 'answer.txt')]) {
        const text = readFileSync(join(dir, f), 'utf8');
        assert.ok(!text.includes(token) && text.includes(REDACTED), `${f} is redacted`);
      }
      assert.equal(readFileSync(join(dir, 'policy.json'), 'utf8'), '{"allow":true}');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
