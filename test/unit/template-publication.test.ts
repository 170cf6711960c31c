// Template immutability (infra/template-publication.ts, infra/images.ts, `arbiter templates
// publish` and `arbiter images build`): a published version is frozen by its content digest.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { buildTemplateImages } from '../../infra/images.ts';
import { DEFAULT_TEMPLATES_DIR, listTemplates, templateDir } from '../../infra/template.ts';
import { pinTemplate, publishTemplate, PUBLISHED_FILE, readPublished, refKey, TemplateModifiedError, templateDigest } from '../../infra/template-publication.ts';
import { tempDir } from './helpers.ts';

const run = promisify(execFile);
const CLI = join(DEFAULT_TEMPLATES_DIR, '..', 'bin', 'arbiter.js');
const cli = (args: string[]) => run(process.execPath, [CLI, ...args], { env: { ...process.env, ARBITER_ENV_FILE: '/nonexistent' } });

/** A scratch copy of the repository's templates (published.json included) to edit freely. */
function copyTemplates(): string {
  const dir = tempDir();
  cpSync(DEFAULT_TEMPLATES_DIR, dir, { recursive: true });
  return dir;
}

void describe('template publication', () => {
  void it('every template version in the repository is published, and its files still hash to the published digest', () => {
    const published = readPublished();
    const refs = listTemplates();
    assert.ok(refs.length >= 3, 'hello, probe and a realistic challenge at least');
    for (const ref of refs) {
      assert.ok(published[refKey(ref)], `${refKey(ref)} is not published: run "arbiter templates publish ${refKey(ref)}"`);
      assert.doesNotThrow(() => pinTemplate(ref), `${refKey(ref)} changed after it was published: publish the change as a new version`);
    }
  });

  void it('when a version is published twice with the same files, the second is a no-op; once its files change, pinning and re-publishing both refuse it', () => {
    const root = copyTemplates();
    try {
      rmSync(join(root, PUBLISHED_FILE));
      const ref = { id: 'hello', version: '1' };
      assert.deepEqual(pinTemplate(ref, root), { ref, digest: templateDigest(templateDir(ref, root)), published: false });

      const first = publishTemplate(ref, root);
      assert.equal(first.alreadyPublished, false);
      assert.equal(readPublished(root)['hello@1'], first.digest);
      assert.deepEqual(publishTemplate(ref, root), { digest: first.digest, alreadyPublished: true });

      appendFileSync(join(root, 'hello', '1', 'image', 'run.sh'), '# one more line\n');
      assert.throws(() => pinTemplate(ref, root), (err: Error) => err instanceof TemplateModifiedError && /hello@1 was published with digest .* new version/.test(err.message));
      assert.throws(() => publishTemplate(ref, root), TemplateModifiedError);
      assert.equal(readPublished(root)['hello@1'], first.digest, 'the recorded digest is unchanged');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  void it('when a file is renamed without changing any bytes, the digest changes too', () => {
    const root = copyTemplates();
    try {
      const dir = templateDir({ id: 'hello', version: '1' }, root);
      const before = templateDigest(dir);
      cpSync(join(dir, 'image', 'run.sh'), join(dir, 'image', 'run2.sh'));
      rmSync(join(dir, 'image', 'run.sh'));
      assert.notEqual(templateDigest(dir), before);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  void it('when a published template was edited, building images refuses it by name before building anything', async () => {
    const root = copyTemplates();
    try {
      appendFileSync(join(root, 'hello', '1', 'template.json'), '\n');
      let engineCalls = 0;
      // Counts engine requests: the refusal must come before the first one.
      const docker = new Docker({ socketPath: '/nonexistent.sock' });
      docker.modem.dial = () => { engineCalls++; throw new Error('no engine request expected'); };
      await assert.rejects(buildTemplateImages(docker, { templatesDir: root }), (err: Error) => err instanceof TemplateModifiedError && /hello@1/.test(err.message));
      assert.equal(engineCalls, 0);

      await assert.rejects(cli(['images', 'build', '--templates', root]), (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 1);
        assert.match(err.stderr, /template hello@1 was published with digest [0-9a-f]{64} but its files now hash to [0-9a-f]{64}/);
        return true;
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  void it('arbiter templates publish records a new version and answers the same on a repeat; an unknown or malformed ref exits 1', async () => {
    const root = copyTemplates();
    try {
      cpSync(join(root, 'hello', '1'), join(root, 'hello', '2'), { recursive: true });
      const file = join(root, 'hello', '2', 'template.json');
      const t = JSON.parse(readFileSync(file, 'utf8')) as { version: string };
      t.version = '2';
      writeFileSync(file, JSON.stringify(t, null, 2));

      const first = JSON.parse((await cli(['--json', 'templates', 'publish', 'hello@2', '--templates', root])).stdout) as { digest: string; alreadyPublished: boolean };
      assert.equal(first.alreadyPublished, false);
      assert.equal(readPublished(root)['hello@2'], first.digest);
      assert.equal(readPublished(root)['hello@1'], readPublished()['hello@1'], 'other versions are untouched');
      const again = JSON.parse((await cli(['--json', 'templates', 'publish', 'hello@2', '--templates', root])).stdout) as { alreadyPublished: boolean };
      assert.equal(again.alreadyPublished, true);

      await assert.rejects(cli(['templates', 'publish', 'nope@1', '--templates', root]), (err: { code: number; stderr: string }) => err.code === 1 && /no template nope@1/.test(err.stderr));
      await assert.rejects(cli(['templates', 'publish', 'hello', '--templates', root]), (err: { code: number; stderr: string }) => err.code === 1 && /id@version/.test(err.stderr));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
