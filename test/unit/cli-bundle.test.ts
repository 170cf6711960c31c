// bin/cli-bundle.js: `arbiter` runs the prebuilt bundle only while it was built from the sources
// as they are; an edited, removed or unlisted source sends it back to the TypeScript sources.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshBundle } from '../../bin/cli-bundle.js';

function project(): { root: string; at: (file: string, seconds: number) => void; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'arbiter-cli-bundle-'));
  mkdirSync(join(root, 'dist'));
  mkdirSync(join(root, 'lib'));
  writeFileSync(join(root, 'lib', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(join(root, 'package-lock.json'), '{}\n');
  writeFileSync(join(root, 'dist', 'cli.mjs'), '// bundle\n');
  writeFileSync(join(root, 'dist', 'cli.inputs.json'), JSON.stringify({ files: ['lib/a.ts', 'package-lock.json'] }));
  const at = (file: string, seconds: number) => utimesSync(join(root, file), seconds, seconds);
  // Sources first, the bundle built after them.
  at('lib/a.ts', 1_000);
  at('package-lock.json', 1_000);
  at('dist/cli.mjs', 2_000);
  return { root, at, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

void describe('the CLI bundle is used only while it matches its sources', () => {
  void it('when every listed source is older than the bundle, the bundle is used', () => {
    const p = project();
    try {
      assert.deepEqual(freshBundle(p.root), { fresh: true, path: join(p.root, 'dist', 'cli.mjs') });
    } finally { p.cleanup(); }
  });

  void it('when a source changed after the build, the sources are used, and the reason names the file', () => {
    const p = project();
    try {
      p.at('lib/a.ts', 3_000);
      assert.deepEqual(freshBundle(p.root), { fresh: false, reason: 'lib/a.ts changed after the bundle was built' });
    } finally { p.cleanup(); }
  });

  void it('when the dependencies changed (the lockfile is newer), the sources are used', () => {
    const p = project();
    try {
      p.at('package-lock.json', 3_000);
      assert.equal(freshBundle(p.root).fresh, false);
    } finally { p.cleanup(); }
  });

  void it('when a listed source was removed, or the bundle or its inputs list is missing, the sources are used', () => {
    const p = project();
    try {
      rmSync(join(p.root, 'lib', 'a.ts'));
      assert.deepEqual(freshBundle(p.root), { fresh: false, reason: 'lib/a.ts is gone' });
      rmSync(join(p.root, 'dist', 'cli.inputs.json'));
      assert.deepEqual(freshBundle(p.root), { fresh: false, reason: 'no dist/cli.inputs.json' });
    } finally { p.cleanup(); }
    const q = project();
    try {
      rmSync(join(q.root, 'dist', 'cli.mjs'));
      assert.deepEqual(freshBundle(q.root), { fresh: false, reason: 'no dist/cli.mjs' });
    } finally { q.cleanup(); }
  });
});
