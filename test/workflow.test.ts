// The GitHub Actions workflow cannot run here: this keeps it honest. It must parse, use only
// actions that exist (pinned to a major version), run on a real Windows and Linux runner,
// run the README's own install and test commands, and upload the lane report that
// `npm run matrix` reads.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = join(__dirname, '..');
const wf = parse(readFileSync(join(root, '.github', 'workflows', 'test.yml'), 'utf8')) as {
  on: Record<string, unknown>;
  jobs: Record<string, { 'runs-on': string; strategy?: { matrix: { include: Array<{ os: string; lane: string }> } };
    env?: Record<string, string>; steps: Array<{ uses?: string; run?: string; with?: Record<string, unknown> }> }>;
};
const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('.github/workflows/test.yml', () => {
  const jobs = Object.values(wf.jobs);

  it('runs on push and pull requests, on windows-latest and ubuntu-latest', () => {
    expect(Object.keys(wf.on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
    const oses = jobs.flatMap((j) => (j.strategy ? j.strategy.matrix.include.map((m) => m.os) : [j['runs-on']]));
    expect(oses).toEqual(expect.arrayContaining(['windows-latest', 'ubuntu-latest']));
  });

  it('runs the commands the README gives, in that order', () => {
    // The README's first screen: the install and the test command, in a shell block.
    const block = [...readme.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => /^npm test\b/m.test(b))!;
    const readmeCommands = block.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => /^npm (install|test|ci)\b/.test(l));
    expect(readmeCommands).toContain('npm test');
    for (const job of jobs) {
      const runs = job.steps.map((s) => s.run).filter((r): r is string => !!r);
      const install = runs.findIndex((r) => /^npm (install|ci)\b/.test(r));
      const test = runs.indexOf('npm test');
      expect(install).toBeGreaterThanOrEqual(0);
      expect(test).toBeGreaterThan(install);
    }
  });

  it('uses only actions that exist, at a major version, and uploads the lane report', () => {
    const known = new Set(['actions/checkout', 'actions/setup-node', 'actions/upload-artifact']);
    for (const job of jobs) {
      for (const step of job.steps.filter((s) => s.uses)) {
        const [name, version] = step.uses!.split('@');
        expect(known.has(name!), `${step.uses} is not one of ${[...known].join(', ')}`).toBe(true);
        expect(version).toMatch(/^v\d+$/);
      }
      const upload = job.steps.find((s) => s.uses?.startsWith('actions/upload-artifact'));
      expect(upload?.with?.path).toBe('reports/');
      const lanes = job.strategy?.matrix.include.map((m) => m.lane) ?? [];
      expect(lanes.every((l) => l.length > 0)).toBe(true);
      expect(job.env?.SENDMSG_SHIM_LANE).toBe('${{ matrix.lane }}');
    }
  });
});
