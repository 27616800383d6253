// The built package (dist/) as users load it: CommonJS and ESM share one instance.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { binding } from '../src/binding';
import { itControlData } from './helpers/platform';

const root = join(__dirname, '..');

describe('dist/ loads from CommonJS and ESM', () => {
  it('require and import give the same exports and the same WsaError class', () => {
    const script = `
      const cjs = require(${JSON.stringify(root)});
      import(${JSON.stringify(pathToFileURL(join(root, 'dist/index.mjs')).href)}).then((esm) => {
        const names = ['openSocket', 'sendMsg', 'sendMsgSync', 'WsaError', 'WSA', 'MSG'];
        const ok = names.every((n) => cjs[n] !== undefined && esm[n] === cjs[n]);
        console.log(JSON.stringify({ ok, backend: esm.backend, emsgsize: esm.WSA.EMSGSIZE }));
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }));
    expect(out).toEqual({ ok: true, backend: binding.platform, emsgsize: 10040 });
  });

  itControlData('an ES module can import it by package name and send from 127.0.0.2', () => {
    const script = `
      import dgram from 'node:dgram';
      import { openSocket, sendMsg } from 'sendmsg-shim';
      const rx = dgram.createSocket('udp4');
      rx.bind(0, '127.0.0.1', async () => {
        rx.on('message', (m, ri) => { console.log(JSON.stringify([m.toString(), ri.address])); rx.close(); s.close(); });
        const s = await openSocket({ type: 'udp4' });
        await sendMsg(s, { buffers: Buffer.from('esm'), to: { address: '127.0.0.1', port: rx.address().port }, control: { sourceAddress: '127.0.0.2' } });
      });`;
    // Self-reference by name works because package.json has "exports".
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual(['esm', '127.0.0.2']);
  });
});
