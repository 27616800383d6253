#!/usr/bin/env node
// Renders a bench run (npm run bench -- --json bench/results.json) as the table README
// quotes, and with --write puts it between README's <!-- bench:start --> and
// <!-- bench:end --> markers, so that the figures in README are one run's, as recorded.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = process.argv.find((a) => a.endsWith('.json')) ?? join(root, 'bench/results.json');
const r = JSON.parse(readFileSync(file, 'utf8'));
const S = r.sizes;
const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${Math.round(n / 1000)}k`);
// Which row each ratio divides by: the label's right-hand side, as bench/run.mjs names it.
const reference = {
  'C sendmsg+pktinfo': 'C sendmsg+pktinfo', 'C sendmmsg': 'C sendmmsg x32', 'C GSO': 'C GSO', 'node:dgram send': 'node:dgram send',
  'addon sendMsgSync': 'shim sendMsgSync', 'addon sendMsg': 'shim sendMsg', 'addon sendMsgBatch': 'shim sendMsgBatch x32',
  sendMsg: 'shim sendMsg',
};
const lines = [
  `datagrams/s, median of ${r.runs} rounds (${r.n} per Node run), loopback, ${r.node}, 2 CPUs`,
  '',
  ['sender'.padEnd(28), ...S.map((s) => `${s} B`.padStart(9))].join(''),
  ...Object.keys(r.results[S[0]]).map((k) => [k.padEnd(28), ...S.map((s) => fmt(r.results[s][k]).padStart(9))].join('')),
  '',
  "ratios: median of the per-round ratios; the reference's median rate in brackets; * = target met",
  ['ratio'.padEnd(40), 'target', ...S.map((s) => `${s} B`.padStart(16))].join(''),
];
for (const [label, values] of Object.entries(r.ratios)) {
  const target = r.targets?.[label];
  const ref = reference[label.split(' / ')[1]];
  const cells = values.map((v, i) => `${v.toFixed(2)}${target && v >= target ? '*' : ' '} (${ref ? fmt(r.results[S[i]][ref]) : '?'})`.padStart(16));
  lines.push([label.padEnd(40), (target ? `>=${target}` : '').padStart(6), ...cells].join(''));
}
lines.push('', `ping-pong round trip, µs (median of ${r.runs} runs of 2000)`);
for (const [name, us] of Object.entries(r.latencyUs)) lines.push(`${name.padEnd(28)}${us.toFixed(1).padStart(9)}`);
const block = ['```', ...lines, '```'].join('\n');

if (process.argv.includes('--write')) {
  const readme = join(root, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const re = /<!-- bench:start -->[\s\S]*?<!-- bench:end -->/;
  if (!re.test(text)) throw new Error('README.md has no <!-- bench:start --> ... <!-- bench:end --> block');
  writeFileSync(readme, text.replace(re, `<!-- bench:start -->\n${block}\n<!-- bench:end -->`));
} else {
  console.log(block);
}
