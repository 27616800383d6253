'use strict';
// Which prebuilt addon suits this process, in node-gyp-build's layout:
// prebuilds/<platform>-<arch>/node.napi[.glibc].node. The matching (platform/arch folders,
// the runtime, napi, libc and armv tags) is node-gyp-build's own; only the order differs:
// node-gyp-build prefers a local build/Release, and sendmsg-shim prefers the prebuild unless
// the user asked for a source build (see src/binding.ts). Used by src/binding.ts at run
// time and by scripts/install.mjs, which builds only when this finds nothing.
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

function list(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The prebuilt .node file for this process under `root`, or undefined. */
function findPrebuild(root) {
  let ngb;
  try {
    ngb = require('node-gyp-build/node-gyp-build.js');
  } catch {
    return undefined;
  }
  const tuple = list(join(root, 'prebuilds')).map(ngb.parseTuple)
    .filter(ngb.matchTuple(process.platform, process.arch)).sort(ngb.compareTuples)[0];
  if (!tuple) return undefined;
  const dir = join(root, 'prebuilds', tuple.name);
  const runtime = process.versions.electron ? 'electron' : 'node';
  const winner = list(dir).map(ngb.parseTags).filter(ngb.matchTags(runtime, process.versions.modules))
    .sort(ngb.compareTags(runtime))[0];
  return winner ? join(dir, winner.file) : undefined;
}

/** Written by scripts/install.mjs after a source build the user asked for: use it first. */
const FROM_SOURCE_MARK = join('build', 'from-source');

module.exports = { findPrebuild, FROM_SOURCE_MARK };
