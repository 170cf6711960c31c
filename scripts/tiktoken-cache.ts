// node --import tsx scripts/tiktoken-cache.ts <dir>: puts tiktoken's o200k_base ranks into <dir>,
// to be passed to Inspect as TIKTOKEN_CACHE_DIR. Inspect's mockllm/model counts tokens with
// tiktoken, which would download the file at run time; this machine has no internet, but the npm
// package `tiktoken` ships the same ranks in a compact form (DESIGN "Inspect"). The file is
// rebuilt byte for byte and checked against the sha256 tiktoken pins, so tiktoken accepts it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The address tiktoken_ext/openai_public.py downloads from; tiktoken caches it under its sha1. */
export const O200K_URL = 'https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken';
/** expected_hash in tiktoken_ext/openai_public.py */
export const O200K_SHA256 = '446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d';

/**
 * The compact `bpe_ranks` of the npm package (per line: a marker, the first token's rank, then
 * the base64 tokens of consecutive ranks) as tiktoken's own format: one `<base64> <rank>` line
 * per token.
 */
export function expandRanks(compact: string): string {
  const out: string[] = [];
  for (const line of compact.split('\n')) {
    if (!line) continue;
    const [, start, ...tokens] = line.split(' ');
    const first = Number(start);
    if (!Number.isInteger(first)) throw new Error(`unexpected bpe_ranks line: ${line.slice(0, 40)}`);
    tokens.forEach((token, i) => out.push(`${token} ${first + i}\n`));
  }
  return out.join('');
}

/** Writes the file into dir (once; a file already there is checked) and returns its path. */
export function buildTiktokenCache(dir: string): string {
  const target = join(dir, createHash('sha1').update(O200K_URL).digest('hex'));
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  if (existsSync(target) && sha256(readFileSync(target)) === O200K_SHA256) return target;
  const source = createRequire(import.meta.url).resolve('tiktoken/encoders/o200k_base.json');
  const { bpe_ranks: compact } = JSON.parse(readFileSync(source, 'utf8')) as { bpe_ranks: string };
  const data = Buffer.from(expandRanks(compact), 'utf8');
  const got = sha256(data);
  if (got !== O200K_SHA256) throw new Error(`o200k_base rebuilt from ${source} has sha256 ${got}, tiktoken pins ${O200K_SHA256}`);
  mkdirSync(dir, { recursive: true });
  // renamed into place: a concurrent reader sees the whole file or none
  writeFileSync(`${target}.tmp`, data);
  renameSync(`${target}.tmp`, target);
  return target;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node --import tsx scripts/tiktoken-cache.ts <TIKTOKEN_CACHE_DIR>');
    process.exit(2);
  }
  console.log(`✓ tiktoken o200k_base (sha256 ${O200K_SHA256.slice(0, 8)}…): ${buildTiktokenCache(dir)}`);
}
