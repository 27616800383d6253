// The code in README.md and docs/*.md cannot rot: TypeScript blocks are type-checked as
// users would compile them (importing 'sendmsg-shim' by name, against dist's types, under the
// strictest flags a project may set), the README example is also run, and C blocks are
// compiled with cc.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { isPosix } from './helpers/platform';

const root = join(__dirname, '..');
const dir = join(root, 'test', '.snippets');  // inside the package, so 'sendmsg-shim' resolves to it
const docs = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

function blocks(lang: string): Array<{ file: string; index: number; code: string }> {
  const out = [];
  for (const file of docs) {
    const text = readFileSync(join(root, file), 'utf8');
    const re = new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g');
    let m: RegExpExecArray | null;
    let index = 0;
    while ((m = re.exec(text))) out.push({ file, index: index++, code: m[1] });
  }
  return out;
}

const tsBlocks = blocks('ts');
const cBlocks = blocks('c');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!isPosix)(`documentation snippets${isPosix ? '' : ' (skipped: compiled on Linux)'}`, () => {
  it('there are snippets to check', () => {
    expect(tsBlocks.length).toBeGreaterThanOrEqual(2);
    expect(cBlocks.length).toBeGreaterThanOrEqual(1);
  });

  it('every TypeScript block type-checks against the published types', () => {
    mkdirSync(dir, { recursive: true });
    const files = tsBlocks.map((b) => {
      const f = join(dir, `${b.file.replace(/[/.]/g, '_')}_${b.index}.mts`);
      writeFileSync(f, `${b.code}\nexport {};\n`);
      return f;
    });
    const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--ignoreConfig', '--noEmit', '--strict', '--exactOptionalPropertyTypes', '--noUncheckedIndexedAccess', '--skipLibCheck',
      '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--types', 'node', ...files], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);

  it('the README example runs', () => {
    mkdirSync(dir, { recursive: true });
    const first = tsBlocks.find((b) => b.file === 'README.md')!;
    const js = ts.transpileModule(first.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    const f = join(dir, 'readme-example.mjs');
    writeFileSync(f, js);
    const out = execFileSync(process.execPath, [f], { cwd: root, encoding: 'utf8', timeout: 10_000 });
    expect(out).toMatch(/^11 sendmsg WSAEMSGSIZE: message too long 127\.0\.0\.1:9000/);
  });

  it('every C block compiles', () => {
    for (const b of cBlocks) {
      const r = spawnSync('cc', ['-fsyntax-only', '-Wall', '-Wextra', '-Werror', '-x', 'c', '-'], { input: b.code, encoding: 'utf8' });
      expect(`${b.file}#${b.index}: ${r.stderr}`).toBe(`${b.file}#${b.index}: `);
    }
  });
});

describe.skipIf(!isPosix)(`API reference${isPosix ? '' : ' (skipped: built on Linux)'}`, () => {
  it('npm run docs (typedoc) builds with no warning: every export is documented', () => {
    const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--emit', 'none'], { cwd: root, encoding: 'utf8' });
    expect(r.stdout + r.stderr).not.toMatch(/warning|error/i);
    expect(r.status).toBe(0);
  }, 120_000);
});
