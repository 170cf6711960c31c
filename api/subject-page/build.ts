// Builds the subject's page (GET /scenarios/:id): page.ts with xterm.js, its fit addon and the
// verifier's checks bundled by esbuild into one script, page.css with xterm's stylesheet into one
// stylesheet. Both are served as files named by their digest, so the HTML (small, rendered per
// request with a fresh CSP nonce) can name them with Subresource Integrity and they can be cached
// for good. No CDN: everything comes from this API.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { browserBundle } from '../verifier/build.ts';

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));

export interface Asset { name: string; body: string; contentType: string; integrity: string }
export interface SubjectPageAssets { js: Asset; css: Asset; template: string }

function asset(stem: string, ext: 'js' | 'css', body: string): Asset {
  const digest = createHash('sha384').update(body, 'utf8').digest();
  return {
    name: `${stem}.${digest.toString('hex').slice(0, 16)}.${ext}`,
    body,
    contentType: ext === 'js' ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8',
    integrity: `sha384-${digest.toString('base64')}`,
  };
}

export async function buildSubjectPageAssets(): Promise<SubjectPageAssets> {
  const xtermCss = readFileSync(createRequire(import.meta.url).resolve('@xterm/xterm/css/xterm.css'), 'utf8');
  return {
    js: asset('subject-page', 'js', await browserBundle(here('page.ts'))),
    css: asset('subject-page', 'css', `${xtermCss}\n${readFileSync(here('page.css'), 'utf8')}`),
    template: readFileSync(here('page.html'), 'utf8'),
  };
}

/** Where the route serves the assets; the page names them by these paths. */
export const ASSET_PREFIX = '/scenarios/assets/';

export interface RenderedPage { html: string; csp: string }

/**
 * The page with a fresh nonce. Scripts run only from this origin's bundle that carries the nonce;
 * styles likewise, which is also what lets xterm's own generated <style> elements apply (page.ts
 * hands them the nonce). Style attributes are allowed: xterm colours 24-bit cells with them, and
 * an attribute can neither run script nor load anything under default-src 'none'. The only
 * connections are to this origin: the API, the terminal's WebSocket ('self' covers ws:/wss: of
 * the same host) and the keys.
 */
export function renderSubjectPage(assets: SubjectPageAssets): RenderedPage {
  const nonce = randomBytes(18).toString('base64');
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "style-src-attr 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const html = assets.template
    .replaceAll('{{NONCE}}', () => nonce)
    .replace('{{JS_URL}}', () => ASSET_PREFIX + assets.js.name)
    .replace('{{JS_SRI}}', () => assets.js.integrity)
    .replace('{{CSS_URL}}', () => ASSET_PREFIX + assets.css.name)
    .replace('{{CSS_SRI}}', () => assets.css.integrity);
  return { html, csp };
}
