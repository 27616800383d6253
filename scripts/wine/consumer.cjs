// Run by the Windows lane in an empty project where the packed tarball was installed with
// --ignore-scripts: the package must load its prebuilt addon in this host (node.exe under
// another name) and send a datagram. Prints one JSON line; the lane checks it.
const dgram = require('node:dgram');
const path = require('node:path');
const shim = require('sendmsg-shim');
const { addonFile } = require(path.join(path.dirname(require.resolve('sendmsg-shim')), 'binding.js'));
const rx = dgram.createSocket('udp4');
rx.bind(0, '127.0.0.1', async () => {
  const s = await shim.openSocket({ type: 'udp4' });
  rx.on('message', async (m, rinfo) => {
    console.log(JSON.stringify({ host: path.basename(process.execPath), implementation: shim.implementation, addonFile, got: [m.toString(), rinfo.address] }));
    rx.close();
    await s.close();
  });
  await shim.sendMsg(s, { buffers: [Buffer.from('from '), Buffer.from('tarball')], to: { address: '127.0.0.1', port: rx.address().port } });
});
