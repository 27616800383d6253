// The published types under the flags strict projects use (strict, exactOptionalPropertyTypes,
// noUncheckedIndexedAccess): test/types/*.mts are compiled against dist/'s declarations, as
// a user's code importing 'sendmsg-shim' is. A line marked @ts-expect-error that compiles
// fails the run (TS2578), so the wrong uses stay wrong.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { openSocket } from '../src/index';
import { isPosix } from './helpers/platform';

const root = join(__dirname, '..');
const dir = join(root, 'test', 'types');
const files = readdirSync(dir).filter((f) => f.endsWith('.mts')).map((f) => join(dir, f));
const FLAGS = ['--strict', '--exactOptionalPropertyTypes', '--noUncheckedIndexedAccess', '--noEmit',
  '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022', '--lib', 'es2022,esnext.disposable', '--types', 'node'];
// Inside the package, so that 'sendmsg-shim' resolves to it (dist/), as in snippets.test.ts.
const runDir = join(root, 'test', '.types-run');
afterAll(() => rmSync(runDir, { recursive: true, force: true }));

describe.skipIf(!isPosix)(`published types${isPosix ? '' : ' (skipped: compiled on Linux)'}`, () => {
  it('there are type tests, with wrong uses among them', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(files.map((f) => readFileSync(f, 'utf8')).join('').match(/@ts-expect-error/g)?.length).toBeGreaterThanOrEqual(10);
  });

  it(`compile with ${FLAGS.slice(0, 3).join(' ')}, and every @ts-expect-error line fails`, () => {
    const r = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--ignoreConfig', ...FLAGS, ...files], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 60_000);

  it('`await using` as tsc lowers it for Node 20 closes the socket when the block is left', () => {
    mkdirSync(runDir, { recursive: true });
    const js = ts.transpileModule(readFileSync(join(dir, 'dispose.mts'), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(join(runDir, 'dispose.mjs'), js);
    const main = join(runDir, 'main.mjs');
    writeFileSync(main, "import { sendOnce } from './dispose.mjs';\nconst s = await sendOnce(9);\nconsole.log(s.closed, s.fd);\n");
    expect(execFileSync(process.execPath, [main], { encoding: 'utf8', timeout: 10_000 }).trim()).toBe('true -1');
  });
});

it('Symbol.asyncDispose closes the socket; there is no Symbol.dispose', async () => {
  const sock = await openSocket({ type: 'udp4' });
  expect(Symbol.asyncDispose in sock).toBe(true);
  expect(Symbol.dispose in sock).toBe(false);
  await sock[Symbol.asyncDispose]();
  expect(sock.closed).toBe(true);
  await sock[Symbol.asyncDispose]();  // twice is harmless, as close() is
});
