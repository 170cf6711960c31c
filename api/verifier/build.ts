// Builds the verifier page as ONE self-contained HTML file: page.ts and its libraries bundled by
// esbuild into an inline script, the stylesheet inline, and a Content-Security-Policy that allows
// exactly those two inline blocks (by hash), no other script, and network access only for the
// keys fetch. The API serves the same bytes at /verify; `npm run build:verifier` writes them to a
// file anyone can open offline.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));

export interface VerifierPage { html: string; csp: string }

/** One browser script from a page's entry point and the npm libraries it imports (no CDN). */
export async function browserBundle(entry: string): Promise<string> {
  const bundled = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['chrome120', 'firefox120', 'safari17'],
    minify: true,
    // The libraries' licence headers stay in the file that ships them.
    legalComments: 'eof',
    logLevel: 'silent',
  });
  return bundled.outputFiles[0]!.text;
}

export async function buildVerifierPage(): Promise<VerifierPage> {
  const js = (await browserBundle(here('page.ts'))).replace(/<\/script/gi, '<\\/script');
  const css = readFileSync(here('page.css'), 'utf8');
  const hash = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
  const csp = [
    "default-src 'none'",
    `script-src ${hash(js)}`,
    `style-src ${hash(css)}`,
    // the JWKS fetch: this origin, any https origin, or a local stack
    "connect-src 'self' https: http://127.0.0.1:* http://localhost:*",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  // Function replacements: a "$" in the bundle must not be read as a replacement pattern.
  const html = readFileSync(here('page.html'), 'utf8')
    .replace('{{CSP}}', () => csp)
    .replace('{{STYLE}}', () => css)
    .replace('{{SCRIPT}}', () => js);
  return { html, csp };
}
