// scripts/matrix.mjs --check-rows (also part of --check, which .ci/run runs): the committed
// docs/platform-matrix.md must have exactly the rows of test/matrix/rows.json, whatever
// their statuses, so that a row added to rows.json cannot stay out of the document.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const rows = JSON.parse(readFileSync(join(root, 'test', 'matrix', 'rows.json'), 'utf8')) as Array<{ group: string; row: string }>;
const work = mkdtempSync(join(tmpdir(), 'sendmsg-shim-matrix-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A document as matrix.mjs renders it, with any statuses. */
function doc(rowNames: string[]): string {
  const lines = ['# Platform matrix: what is proven where', ''];
  for (const group of [...new Set(rows.map((r) => r.group))]) {
    lines.push(`## ${group}`, '', '| row | Linux | Windows |', '|---|---|---|');
    for (const r of rows.filter((x) => x.group === group && rowNames.includes(x.row))) lines.push(`| ${r.row} | proven on Linux (a) | not yet proven: skipped there (why) |`);
    lines.push('');
  }
  return lines.join('\n');
}

function checkRows(text: string) {
  const file = join(work, `m${Math.random().toString(36).slice(2)}.md`);
  writeFileSync(file, text);
  const run = spawnSync(process.execPath, [join(root, 'scripts', 'matrix.mjs'), '--check-rows', `--doc=${file}`], { encoding: 'utf8' });
  expect(readFileSync(file, 'utf8')).toBe(text);  // a check writes nothing
  return run;
}

describe('matrix.mjs --check-rows', () => {
  it('passes a document with every row of rows.json, whatever the statuses', () => {
    const run = checkRows(doc(rows.map((r) => r.row)));
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('fails, naming the row, when a row of rows.json is missing from the document', () => {
    const missing = rows.find((r) => r.row.includes('receiveOffload'))!.row;
    const run = checkRows(doc(rows.map((r) => r.row).filter((r) => r !== missing)));
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`row "${missing}" of test/matrix/rows.json is missing`);
  });

  it('fails when the document has a row rows.json no longer has', () => {
    const run = checkRows(`${doc(rows.map((r) => r.row))}\n| a row nobody tests | proven | proven |\n`);
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('row "a row nobody tests"');
  });

  it('fails when there is no document', () => {
    const run = spawnSync(process.execPath, [join(root, 'scripts', 'matrix.mjs'), '--check-rows', `--doc=${join(work, 'none.md')}`], { encoding: 'utf8' });
    expect(run.status).toBe(1);
  });
});
