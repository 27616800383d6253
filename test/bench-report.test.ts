// What the documentation says about speed is one recorded run (bench/results.json), rendered
// by scripts/bench-report.mjs: README's table and headline, docs/performance.md's figures and
// the chart docs/bench.svg. A figure edited by hand, or a run recorded without
// `npm run bench:record` redrawing them all, fails here. Tests never time anything themselves.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const results = join(root, 'bench/results.json');
const render = (what: string) =>
  execFileSync(process.execPath, [join(root, 'scripts/bench-report.mjs'), results, '--print', what], { encoding: 'utf8', timeout: 60_000 });
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const marked = (name: string, content: string) => `<!-- ${name}:start -->\n${content.trim()}\n<!-- ${name}:end -->`;

describe('figures drawn from bench/results.json', () => {
  it("README's benchmark table is bench/results.json as scripts/bench-report.mjs renders it", () => {
    // The default output, with no --print: what README's table has always been checked against.
    const block = execFileSync(process.execPath, [join(root, 'scripts/bench-report.mjs'), results], { encoding: 'utf8' }).trim();
    expect(block).toBe(render('readme').trim());
    expect(read('README.md')).toContain(marked('bench', block));
    const run = JSON.parse(read('bench/results.json'));
    // The targets README states are the ones the run was judged by.
    for (const [label, target] of Object.entries(run.targets as Record<string, number>)) expect(block).toContain(`${label.padEnd(40)}${`>=${target}`.padStart(6)}`);
  });

  it("README's headline figures are the same run's", () => {
    const summary = render('summary');
    expect(summary).toMatch(/\*\*\d\.\d\d–\d\.\d\d×\*\*/);
    expect(read('README.md')).toContain(marked('bench-summary', summary));
  });

  it("README's receive table is the same run's", () => {
    const table = render('receive');
    expect(table).toContain('recvMsgBatch / C recvmmsg (GSO flood)');
    expect(read('README.md')).toContain(marked('bench-receive', table));
  });

  it("docs/performance.md's figures are the same run's", () => {
    const figures = render('performance');
    expect(figures).toContain('µs per datagram');
    expect(read('docs/performance.md')).toContain(marked('bench-figures', figures));
  });

  it('docs/bench.svg is the chart the script draws from the run, and README shows it', () => {
    const svg = render('svg');
    expect(svg).toMatch(/^<svg [^>]*width="\d+" height="\d+"/);
    // One bar label per charted rate: the C, node:dgram and shim rows at every size.
    const run = JSON.parse(read('bench/results.json'));
    for (const size of run.sizes as number[]) {
      const cGso = run.results[size]['C GSO'] as number;
      expect(svg).toContain(`${(cGso / 1e6).toFixed(2)}M`);
    }
    expect(read('docs/bench.svg')).toBe(svg);
    expect(read('README.md')).toMatch(/!\[[^\]]+\]\(docs\/bench\.svg\)/);
  }, 60_000);

  it('npm run bench:record regenerates all of it', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts['bench:record']).toMatch(/--json bench\/results\.json && node scripts\/bench-report\.mjs --write$/);
  });
});
