// README's benchmark table is one recorded run (bench/results.json), rendered by
// scripts/bench-report.mjs: a figure edited by hand, or a run recorded without updating
// README, fails here. Tests never time anything themselves.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(__dirname, '..');

it("README's benchmark table is bench/results.json as scripts/bench-report.mjs renders it", () => {
  const block = execFileSync(process.execPath, [join(root, 'scripts/bench-report.mjs'), join(root, 'bench/results.json')], { encoding: 'utf8' }).trim();
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  expect(readme).toContain(`<!-- bench:start -->\n${block}\n<!-- bench:end -->`);
  const results = JSON.parse(readFileSync(join(root, 'bench/results.json'), 'utf8'));
  // The targets README states are the ones the run was judged by.
  for (const [label, target] of Object.entries(results.targets as Record<string, number>)) expect(block).toContain(`${label.padEnd(40)}${`>=${target}`.padStart(6)}`);
});
