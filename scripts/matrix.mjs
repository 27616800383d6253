#!/usr/bin/env node
// npm run matrix [-- --check]: docs/platform-matrix.md, what is proven where, from the lane
// reports the test runs wrote (reports/lane-*.json; test/helpers/summary-reporter.mts) and the
// rows of test/matrix/rows.json (each README option and semantics-table row, with the tests
// that prove it). Nothing in the matrix is written by hand: a row is "proven" on a platform
// when one of its tests passed in a lane of that platform, and otherwise says why not (the
// skip reason the lane recorded). --check fails when a row names no test any lane ran (a
// stale row), when no Linux or no Windows lane reported, or when the committed
// docs/platform-matrix.md (as it was before this run rewrote it) does not have exactly the
// rows of rows.json: a row added without regenerating the file would otherwise go unseen
// wherever the lanes do not all run. --check-rows [--doc=FILE] does only that last check,
// writes nothing and needs no lane report.
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const checkRowsOnly = process.argv.includes('--check-rows');
const docPath = process.argv.find((a) => a.startsWith('--doc='))?.slice('--doc='.length) ?? join(root, 'docs', 'platform-matrix.md');
const reportsDir = join(root, 'reports');
const rows = JSON.parse(readFileSync(join(root, 'test', 'matrix', 'rows.json'), 'utf8'));

// The row set of a rendered matrix against rows.json, names only: the statuses depend on
// which lanes ran, the rows do not.
function rowSetProblems(doc) {
  if (doc === null) return [`${docPath} does not exist`];
  const inDoc = new Set();
  for (const line of doc.split('\n')) {
    const m = /^\| (.+?) \| .* \|$/.exec(line);
    if (m && m[1] !== 'row' && !/^-+$/.test(m[1])) inDoc.add(m[1]);
  }
  const wanted = new Set(rows.map((r) => r.row));
  const fix = '(regenerate it from a full run: npm run matrix)';
  return [
    ...[...wanted].filter((r) => !inDoc.has(r)).map((r) => `row "${r}" of test/matrix/rows.json is missing from ${docPath} ${fix}`),
    ...[...inDoc].filter((r) => !wanted.has(r)).map((r) => `row "${r}" of ${docPath} is not in test/matrix/rows.json ${fix}`),
  ];
}
const committedDoc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : null;
if (checkRowsOnly) {
  const problems = rowSetProblems(committedDoc);
  if (problems.length) {
    console.error(problems.map((p) => `matrix: ${p}`).join('\n'));
    process.exit(1);
  }
  console.log(`matrix: ${docPath} has the ${rows.length} rows of test/matrix/rows.json`);
  process.exit(0);
}
const lanes = existsSync(reportsDir)
  ? readdirSync(reportsDir).filter((f) => /^lane-.*\.json$/.test(f)).map((f) => JSON.parse(readFileSync(join(reportsDir, f), 'utf8')))
  : [];

// Where a lane's results count: Linux (any arch or implementation), Windows under Wine, real Windows.
const kindOf = (lane) => (lane.platform !== 'win32' ? 'linux' : /wine/.test(lane.lane) ? 'wine' : 'windows');
const matches = (row, test) => row.tests.some((t) => test.name.includes(t.name) && (!t.file || test.file === t.file));
const level = (row, test) => row.tests.find((t) => test.name.includes(t.name))?.level ?? 'suite';

function statusOn(row, kinds) {
  const passedIn = [];
  const skips = new Set();
  let failed = false;
  let encoderOnly = true;
  for (const lane of lanes.filter((l) => kinds.includes(kindOf(l)))) {
    for (const test of lane.tests.filter((t) => matches(row, t))) {
      if (test.state === 'passed') {
        if (!passedIn.includes(lane.lane)) passedIn.push(lane.lane);
        if (level(row, test) !== 'encoder') encoderOnly = false;
      } else if (test.state === 'failed') {
        failed = true;
      } else {
        const why = /\[(unverified on real Windows: [^\]]*)\]/.exec(test.name)?.[1] ??
          `skipped there (${/\(skipped: ([^)]*)\)/.exec(test.name)?.[1] ?? 'no reason given'})`;
        skips.add(why);
      }
    }
  }
  return { passedIn, skips: [...skips], failed, encoderOnly: passedIn.length > 0 && encoderOnly };
}

function cell(row, kind) {
  if (kind === 'linux') {
    const s = statusOn(row, ['linux']);
    if (s.failed) return 'FAILING';
    if (row.linux) return `${row.linux}${s.passedIn.length ? ` (${s.passedIn.join(', ')})` : ''}`;
    if (s.passedIn.length) return `proven on Linux (${s.passedIn.join(', ')})`;
    return `not yet proven${s.skips.length ? `: ${s.skips.join('; ')}` : ''}`;
  }
  const real = statusOn(row, ['windows']);
  if (real.failed) return 'FAILING on Windows';
  if (real.passedIn.length) return `proven on Windows (${real.passedIn.join(', ')})`;
  const wine = statusOn(row, ['wine']);
  if (wine.failed) return 'FAILING under Wine';
  // A row whose answer on Windows is "never" or "does not apply" says so, with its evidence.
  if (row.windows === 'n/a') return 'does not apply';
  if (row.windows) return `${row.windows}${wine.passedIn.length ? ' (its test passed under Wine)' : ''}`;
  if (wine.encoderOnly) return 'proven at the encoder level (mingw WSA_CMSG_* macros, under Wine)';
  if (wine.passedIn.length) return `proven under Wine${row.wineNote ? ` (${row.wineNote})` : ''}`;
  const ranOnWindows = lanes.some((l) => kindOf(l) !== 'linux' && l.tests.some((t) => matches(row, t)));
  return `not yet proven: ${wine.skips.length ? wine.skips.join('; ') : ranOnWindows ? 'skipped' : 'its tests need Linux (network namespaces, a python witness) and do not run under Wine'}`;
}

const problems = check ? rowSetProblems(committedDoc) : [];
if (!lanes.some((l) => kindOf(l) === 'linux')) problems.push('no Linux lane report in reports/');
if (!lanes.some((l) => kindOf(l) !== 'linux')) problems.push('no Windows lane report in reports/ (npm run test:windows)');
for (const row of rows) {
  const ran = lanes.some((l) => l.tests.some((t) => matches(row, t)));
  if (!ran) problems.push(`row "${row.row}": none of its tests ran in any lane (${row.tests.map((t) => t.name).join(' | ')})`);
}

const lines = [
  '# Platform matrix: what is proven where',
  '',
  '<!-- generated by `npm run matrix` from the lane reports (reports/lane-*.json) and test/matrix/rows.json; do not edit -->',
  '',
  `Lanes: ${lanes.map((l) => `\`${l.lane}\` (${l.platform}-${l.arch}, ${l.implementation}, Node ${l.node}: ` +
    `${l.tests.filter((t) => t.state === 'passed').length} passed, ${l.tests.filter((t) => t.state === 'skipped').length} skipped)`).join('; ')}.`,
  '',
  '"Proven" means a test of that row passed in a lane of that platform: on Linux against the real kernel',
  '(loopback and network namespaces), on Windows under Wine (the Windows addon in Windows `node.exe`), at the',
  'encoder level (the WSAMSG read back with mingw\'s own `WSA_CMSG_*` macros), or on a real Windows runner',
  '(`.github/workflows/test.yml` uploads its lane report). "Not yet proven" gives the reason the lane recorded.',
  '',
];
for (const group of [...new Set(rows.map((r) => r.group))]) {
  lines.push(`## ${group}`, '', '| row | Linux | Windows |', '|---|---|---|');
  for (const row of rows.filter((r) => r.group === group)) lines.push(`| ${row.row} | ${cell(row, 'linux')} | ${cell(row, 'windows')} |`);
  lines.push('');
}
writeFileSync(join(root, 'docs', 'platform-matrix.md'), lines.join('\n'));
console.log(`wrote docs/platform-matrix.md: ${rows.length} rows from ${lanes.length} lane reports`);
if (problems.length) {
  console[check ? 'error' : 'warn'](problems.map((p) => `matrix: ${p}`).join('\n'));
  if (check) process.exit(1);
}
