// What every benchmark returns and how the runner shows it: one row per figure, with the
// baseline measured in the same run, the ratio between them and the target it is held to.

export interface Figure {
  /** the benchmark that measured it: spawn, throughput, api, open, verdicts, access */
  bench: string;
  metric: string;
  unit: string;
  arbiter: number;
  baseline?: { label: string; value: number };
  /** arbiter ÷ baseline */
  ratio?: number;
  target?: { text: string; met: boolean };
  note?: string;
}

export interface BenchResult {
  figures: Figure[];
  /** raw samples and settings, written to the JSON only */
  details: Record<string, unknown>;
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export function ratioOf(arbiter: number, baseline: number): number {
  return baseline === 0 ? Number.NaN : arbiter / baseline;
}

function num(v: number, unit: string): string {
  if (!Number.isFinite(v)) return '–';
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })} ${unit}`.trim();
}

function rows(figures: readonly Figure[]): string[][] {
  return figures.map((f) => [
    f.metric,
    num(f.arbiter, f.unit),
    f.baseline ? `${num(f.baseline.value, f.unit)} (${f.baseline.label})` : '–',
    f.ratio === undefined ? '–' : `${num(f.ratio, '')}×`,
    f.target ? `${f.target.text} ${f.target.met ? '✓' : '✗ missed'}` : '–',
  ]);
}

const HEADER = ['figure', 'Arbiter', 'baseline (same run)', 'ratio', 'target'];

/** A fixed-width table for the terminal. */
export function textTable(figures: readonly Figure[]): string {
  const all = [HEADER, ...rows(figures)];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => [...r[i]!].length)));
  const line = (r: string[]) => r.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join('  ');
  return [line(HEADER), widths.map((w) => '─'.repeat(w)).join('  '), ...rows(figures).map(line)].join('\n');
}

/** The same table in Markdown, for bench/results/latest.md and the README. */
export function markdownTable(figures: readonly Figure[]): string {
  const esc = (c: string) => c.replaceAll('|', '\\|');
  return [
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map(() => '---').join('|')}|`,
    ...rows(figures).map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** The notes of the figures that have one, one line each. */
export function notes(figures: readonly Figure[]): string[] {
  return figures.filter((f) => f.note).map((f) => `- ${f.metric}: ${f.note!}`);
}
