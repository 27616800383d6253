#!/usr/bin/env node
// Everything the documentation says about speed comes from one recorded bench run
// (npm run bench -- --json bench/results.json), rendered here, so that README,
// docs/performance.md and the chart cannot disagree with the run or with each other:
//
//   node scripts/bench-report.mjs [results.json]                 README's table (stdout)
//   node scripts/bench-report.mjs [results.json] --print NAME    one output: readme, summary, performance or svg
//   node scripts/bench-report.mjs [results.json] --write         all of them into README.md, docs/performance.md, docs/bench.svg
//
// README.md carries the table between <!-- bench:start --> and <!-- bench:end --> and the
// headline figures between <!-- bench-summary:start --> and <!-- bench-summary:end -->;
// docs/performance.md carries the fuller figures between <!-- bench-figures:start --> and
// <!-- bench-figures:end -->. test/bench-report.test.ts checks that each is what this renders.
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

function tableBlock() {
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
  return ['```', ...lines, '```'].join('\n');
}

// The receive table (bench/recv.mjs), as the bench printed it.
function receiveBlock() {
  const v = r.receive;
  if (!v) return '```\n(this run has no receive table: record one with npm run bench:record)\n```';
  const rs = v.sizes;
  const lines = [
    `datagrams/s received from a C flood of ${v.floodMs} ms (lost: share of the flood never received), median of ${r.runs} rounds, 2 CPUs`,
    '',
    ['receiver'.padEnd(38), ...rs.map((s) => `${s} B`.padStart(18))].join(''),
    ...Object.keys(v.results[rs[0]]).map((k) => [k.padEnd(38),
      ...rs.map((s) => `${fmt(v.results[s][k].rate)} (${(v.results[s][k].drops * 100).toFixed(0)}% lost)`.padStart(18))].join('')),
    '',
    ['ratio'.padEnd(46), 'target', ...rs.map((s) => `${s} B`.padStart(16))].join(''),
  ];
  for (const [label, values] of Object.entries(v.ratios)) {
    const target = v.targets?.[label];
    lines.push([label.padEnd(46), (target ? `>=${target}` : '').padStart(6),
      ...values.map((x) => `${x.toFixed(2)}${target && x >= target ? '*' : ' '}`.padStart(16))].join(''));
  }
  return ['```', ...lines, '```'].join('\n');
}

// ---- figures in words ----

const span = (values, digits = 2) => {
  const lo = Math.min(...values).toFixed(digits);
  const hi = Math.max(...values).toFixed(digits);
  return lo === hi ? lo : `${lo}–${hi}`;
};
const sizesText = (sizes) => (sizes.length === 1 ? `${sizes[0]} B` : `${sizes.slice(0, -1).join(', ')} and ${sizes.at(-1)} B`);
// Ratios whose label bench/run.mjs gives them, in words: [what is measured, against what].
const WORDS = {
  'sendMsg / C sendmsg+pktinfo': ['`sendMsg` with many calls in flight (the calls of one turn go as one `sendmmsg`)', 'a C `sendmsg` loop doing the same'],
  'sendMsgSync / C sendmsg+pktinfo': ['`sendMsgSync`', 'C `sendmsg`'],
  'sendMsgBatchSync / C sendmmsg': ['`sendMsgBatchSync` ×32', 'C `sendmmsg` ×32'],
  'sendMsgBatch / C sendmmsg': ['`sendMsgBatch` ×32', 'C `sendmmsg` ×32'],
  'segmentSize / C GSO': ['`segmentSize`', 'a C UDP GSO sender'],
  'sendMsg / node:dgram send': ['`sendMsg`', "`node:dgram`'s `send` (which cannot choose the source at all)"],
  'sendMsg one at a time / sendMsgSync': ['a sender that awaits each `sendMsg` before the next', "`sendMsgSync`'s rate"],
};
function ratioLine(label) {
  const values = r.ratios[label];
  const [what, against] = WORDS[label] ?? [`\`${label.split(' / ')[0]}\``, `\`${label.split(' / ')[1]}\``];
  const target = r.targets?.[label];
  let note = '';
  if (target !== undefined) {
    const short = S.filter((_, i) => values[i] < target);
    if (short.length === 0) note = ` (target ${target}: met)`;
    else if (short.length === S.length) note = ` (target ${target}: ${span(values.map((v) => target - v))} short)`;
    else {
      const met = S.filter((_, i) => values[i] >= target);
      note = ` (target ${target}: met at ${sizesText(met)}, ${span(short.map((s) => target - values[S.indexOf(s)]))} short at ${sizesText(short)})`;
    }
  }
  return `- ${what}: **${span(values)}×** ${against}${note}`;
}
function ffiLine() {
  const parts = [['ffi-rs sendMsgSync / addon sendMsgSync', 'with `sendMsgSync`'],
    ['ffi-rs sendMsg / addon sendMsg', 'with `sendMsg` (coalesced into one `sendmmsg` through ffi-rs)'],
    ['ffi-rs sendMsgBatch / addon sendMsgBatch', 'in batches']].filter(([label]) => r.ratios[label])
    .map(([label, how], i) => `**${span(r.ratios[label])}×**${i === 0 ? " the addon's rate" : ''} ${how}`);
  if (parts.length === 0) return [];
  const list = parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}`;
  return [`- the ffi-rs backend (no compiler needed) sends at ${list}`];
}
function latencyLine() {
  const l = r.latencyUs;
  if (!l) return [];
  return [`- a ping-pong round trip on loopback: ${Object.entries(l).map(([name, us]) => `${us.toFixed(1)} µs on ${name.replace(/^shim \((.*)\)$/, 'the $1 backend')}`).join(', ')}`];
}
const headline = ['sendMsg / C sendmsg+pktinfo', 'sendMsg / node:dgram send', 'sendMsgSync / C sendmsg+pktinfo', 'sendMsgBatchSync / C sendmmsg',
  'sendMsgBatch / C sendmmsg', 'segmentSize / C GSO', 'sendMsg one at a time / sendMsgSync'].filter((label) => r.ratios[label]);

function summaryBlock() {
  return [
    `With a per-datagram source address and two gathered buffers, one run of \`npm run bench\` (${r.runs} rounds, ${r.node}, this 2-core machine):`,
    '',
    ...headline.map(ratioLine),
    ...ffiLine(),
  ].join('\n');
}

function performanceBlock() {
  const c = S.map((s) => r.results[s]['C sendmsg+pktinfo']);
  const us = c.map((rate) => 1e6 / rate);
  const others = Object.keys(r.ratios).filter((label) => !headline.includes(label) && !label.startsWith('ffi-rs '));
  return [
    `${r.runs} rounds of ${r.n} datagrams per Node sender and payload size (${S.join(', ')} B), ${r.node}, loopback, this 2-core ` +
      "machine. Ratios are medians of the per-round ratios; rates and round trips are medians over the rounds, as in README's table.",
    '',
    `- the kernel's own path: C \`sendmsg\` with IP_PKTINFO sends ${fmt(Math.min(...c))}–${fmt(Math.max(...c))} datagrams/s, ` +
      `${span(us, 1)} µs per datagram`,
    ...headline.map(ratioLine),
    ...others.map(ratioLine),
    ...ffiLine(),
    ...latencyLine(),
  ].join('\n');
}

// ---- the chart ----

// Which comparison a sender row belongs to; the ffi rows stay in the table (the chart is
// the shim on its fast path against C and node:dgram).
function groupOf(sender) {
  if (/^ffi /.test(sender)) return null;
  if (/GSO|segmentSize/.test(sender)) return 'segmentation offload (GSO)';
  if (/x32|mmsg/.test(sender)) return '32 datagrams per call';
  return 'one datagram per call';
}
const whoOf = (sender) => (sender.startsWith('C ') ? 'C' : sender.startsWith('node:dgram') ? 'node:dgram' : 'sendmsg-shim');

function chartSpec(results) {
  const sizes = results.sizes;
  const senders = Object.keys(results.results[sizes[0]]);
  const values = [];
  for (const size of sizes) {
    for (const sender of senders) {
      const group = groupOf(sender);
      if (!group) continue;
      const rate = results.results[size][sender];
      values.push({ group, sender, who: whoOf(sender), size: `${size} B`, rate, label: fmt(rate) });
    }
  }
  const groups = [...new Set(values.map((v) => v.group))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    padding: 8,
    title: {
      text: 'Datagrams per second, by payload size',
      subtitle: `loopback, source address per datagram, median of ${results.runs} rounds, ${results.node}, 2 CPUs (bench/results.json)`,
      anchor: 'start',
    },
    data: { values },
    vconcat: groups.map((group) => {
      const max = Math.max(...values.filter((v) => v.group === group).map((v) => v.rate));
      const bar = {
        // One label width for every row of panels, so that the rows line up.
        y: { field: 'sender', type: 'nominal', sort: senders, title: null, axis: { labelLimit: 220, minExtent: 170 } },
        // Room past the longest bar for its label.
        x: { field: 'rate', type: 'quantitative', title: null, scale: { domain: [0, max * 1.3], nice: false }, axis: { tickCount: 3, labelExpr: "datum.value === 0 ? '0' : format(datum.value, '~s')" } },
      };
      return {
        title: { text: group, anchor: 'start', fontSize: 12 },
        transform: [{ filter: { field: 'group', equal: group } }],
        facet: { column: { field: 'size', type: 'ordinal', sort: sizes.map((s) => `${s} B`), title: null } },
        spec: {
          width: 150,
          height: { step: 14 },
          layer: [
            { mark: 'bar', encoding: { ...bar, color: { field: 'who', type: 'nominal', title: null,
              scale: { domain: ['C', 'node:dgram', 'sendmsg-shim'], range: ['#9e9e9e', '#e08214', '#2166ac'] } } } },
            { mark: { type: 'text', align: 'left', dx: 3, fontSize: 9 }, encoding: { ...bar, text: { field: 'label' } } },
          ],
        },
        resolve: { scale: { x: 'shared' } },
      };
    }),
    resolve: { scale: { x: 'independent', y: 'independent', color: 'shared' } },
    config: { legend: { orient: 'top' }, view: { stroke: '#ddd' }, axis: { labelFontSize: 10 } },
  };
}

async function svgText() {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  // Text widths estimated, never measured with a canvas module that one machine has and
  // another not: the same results.json must give the same bytes everywhere.
  vega.textMetrics.canvas(false);
  const { spec } = vl.compile(chartSpec(r));
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return `${svg}\n`;
}

function replaceBlock(text, path, name, content) {
  const re = new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->`);
  if (!re.test(text)) throw new Error(`${path} has no <!-- ${name}:start --> ... <!-- ${name}:end --> block`);
  return text.replace(re, () => `<!-- ${name}:start -->\n${content}\n<!-- ${name}:end -->`);
}

const outputs = { readme: tableBlock, summary: summaryBlock, performance: performanceBlock, svg: svgText, receive: receiveBlock };
if (process.argv.includes('--write')) {
  // Everything is rendered before anything is written: a missing marker leaves no file half done.
  const readme = join(root, 'README.md');
  const performance = join(root, 'docs/performance.md');
  let readmeText = readFileSync(readme, 'utf8');
  readmeText = replaceBlock(readmeText, readme, 'bench', tableBlock());
  readmeText = replaceBlock(readmeText, readme, 'bench-summary', summaryBlock());
  readmeText = replaceBlock(readmeText, readme, 'bench-receive', receiveBlock());
  const performanceText = replaceBlock(readFileSync(performance, 'utf8'), performance, 'bench-figures', performanceBlock());
  const svg = await svgText();
  writeFileSync(readme, readmeText);
  writeFileSync(performance, performanceText);
  writeFileSync(join(root, 'docs/bench.svg'), svg);
  console.log('wrote README.md (tables, summary), docs/performance.md (figures), docs/bench.svg');
} else {
  const at = process.argv.indexOf('--print');
  const name = at > 0 ? process.argv[at + 1] : 'readme';
  if (!outputs[name]) throw new Error(`--print takes one of ${Object.keys(outputs).join(', ')}`);
  process.stdout.write(`${await outputs[name]()}${name === 'svg' ? '' : '\n'}`);
}
