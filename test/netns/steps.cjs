// Runs a scripted list of socket operations inside a test namespace, through the public
// API only, and prints one result per step as JSON:
//   { ok: true, bytes? } or { code, errno, sysCode, syscall, ms, icmp, message, accepted? }.
// Steps: open {id, opts} | send {id, to: [address, port], size, seq?, sync?, control?, flags?,
//        untilError?: N (repeat up to N times, stop at the first error; `accepted` counts)}
//        connect {id, to} | sleep {ms} | signalAfter {ms} (SIGUSR2 to this process) | close {id}
const { spawn } = require('node:child_process');
const { openSocket, sendMsg, sendMsgSync } = require(process.env.SHIM_ROOT);
const steps = JSON.parse(process.argv[2]);
const socks = {};

const fail = (e, t0) => {
  if (!e || !e.code || !String(e.code).startsWith('WSA')) throw e;
  return { code: e.code, errno: e.errno, sysCode: e.sysCode ?? null, syscall: e.syscall, ms: Date.now() - t0, icmp: e.icmp ?? null, message: e.message };
};

(async () => {
  const results = [];
  for (const step of steps) {
    let t0 = Date.now();
    try {
      switch (step.op) {
        case 'open':
          socks[step.id] = await openSocket(step.opts);
          results.push({ ok: true });
          break;
        case 'send': {
          const payload = Buffer.alloc(step.size ?? 16, 0x61);
          if (payload.length >= 4) payload.writeUInt32BE(step.seq ?? 0, 0);
          const msg = { buffers: payload, control: step.control, flags: step.flags };
          if (step.to) msg.to = { address: step.to[0], port: step.to[1] };
          let bytes = 0;
          let accepted = 0;
          try {
            for (let i = 0; i < (step.untilError ?? 1); i++) {
              t0 = Date.now();
              bytes = step.sync ? sendMsgSync(socks[step.id], msg) : await sendMsg(socks[step.id], msg);
              accepted++;
            }
          } catch (e) {
            results.push({ ...fail(e, t0), accepted });
            break;
          }
          results.push({ ok: true, bytes, accepted });
          break;
        }
        case 'connect':
          socks[step.id].connect(step.to[0], step.to[1]);
          results.push({ ok: true });
          break;
        case 'sleep':
          await new Promise((r) => setTimeout(r, step.ms));
          results.push({ ok: true });
          break;
        case 'signalAfter':
          // A JS handler makes the signal interrupt a blocking wait instead of killing us;
          // the signal comes from another process because this thread will be blocked.
          process.on('SIGUSR2', () => {});
          // Repeated until this process is gone: under load the first one may come before
          // the send is blocked, and only a signal during the wait interrupts it.
          spawn('sh', ['-c', `while sleep ${step.ms / 1000}; do kill -USR2 ${process.pid} 2>/dev/null || exit 0; done`], { stdio: 'ignore', detached: true }).unref();
          results.push({ ok: true });
          break;
        case 'close':
          await socks[step.id].close();
          results.push({ ok: true });
          break;
        default:
          throw new Error(`unknown step ${step.op}`);
      }
    } catch (e) {
      results.push(fail(e, t0));
    }
  }
  for (const s of Object.values(socks)) await s.close();
  console.log(JSON.stringify(results));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
