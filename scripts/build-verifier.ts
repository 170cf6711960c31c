// npm run build:verifier [-- <out file>]: the standalone verifier page, one HTML file that checks
// verdicts offline in any browser (default dist/verifier.html).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { buildVerifierPage } from '../api/verifier/build.ts';

const out = resolve(process.argv[2] ?? 'dist/verifier.html');
const { html } = await buildVerifierPage();
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, html);
console.log(`✓ verifier page: ${out} (${Math.round(html.length / 1024)} KiB, self-contained)`);
