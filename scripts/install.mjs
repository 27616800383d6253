#!/usr/bin/env node
// npm's install step. The package ships prebuilt addons (prebuilds/, see README "Install"),
// so this usually does nothing: it compiles with cmake-js only when no prebuild suits this
// platform, or when the user asks (npm rebuild sendmsg-shim --build-from-source, or
// SENDMSG_SHIM_BUILD_FROM_SOURCE=1). A build that cannot run or fails is reported and is
// not fatal where something else will work: a prebuild, or on Linux x64/arm64 the ffi-rs
// backend. Elsewhere it is. npm 12 runs no install scripts of dependencies at all: nothing
// here is then needed where a prebuild exists.
// SENDMSG_SHIM_IMPLEMENTATION=ffi skips the build: the caller has chosen ffi-rs.
//
// cmake-js and node-addon-api are devDependencies, not dependencies: every consumer would
// otherwise install some 40 packages that only a source build uses. A clone has them; a
// consumer's source build fetches the versions package.json pins (it ships in the tarball)
// into build-toolchain/ at that moment. Not under build/: cmake-js deletes build/ when a
// compile fails, and would take the running toolchain with it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { findPrebuild, FROM_SOURCE_MARK } = require('./find-prebuild.cjs');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = `${process.platform}-${process.arch}`;
const TOOLCHAIN = 'build-toolchain';

if (process.env.SENDMSG_SHIM_IMPLEMENTATION === 'ffi') {
  console.log('sendmsg-shim: SENDMSG_SHIM_IMPLEMENTATION=ffi, not building the native addon');
  process.exit(0);
}
const yes = (v) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
const forced = yes(process.env.SENDMSG_SHIM_BUILD_FROM_SOURCE) || yes(process.env.npm_config_build_from_source);
const prebuild = findPrebuild(root);
rmSync(join(root, FROM_SOURCE_MARK), { force: true });
if (prebuild && !forced) {
  console.log(`sendmsg-shim: using the prebuilt addon ${relative(root, prebuild)}; nothing to build`);
  process.exit(0);
}

const why = forced ? 'a source build was asked for' : `no prebuilt addon for ${target}`;
const needs = 'needs cmake, a C++17 compiler and Node\'s headers';
const pinned = pinnedTools();
const specs = Object.entries(pinned).map(([name, version]) => `${name}@${version}`);
const wanted = specs.join(' ');
let tools = locateTools();
if (!tools) {
  const fetched = fetchTools();
  tools = locateTools();
  if (!tools) {
    notBuilt(`${why}, and the build tools ${wanted} could not be fetched${fetched.error ? `: ${fetched.error}` : ' (see above)'}. ` +
      'To build the addon: make the npm registry reachable, or ' +
      `npm install ${wanted} in your project, then run npm rebuild sendmsg-shim --build-from-source (${needs})`, fetched.status);
  }
}
console.log(`sendmsg-shim: ${why}; building the native addon with cmake-js ${pinned['cmake-js']} (${relative(root, tools.cmakeJs) || '.'})`);
const r = spawnSync(process.execPath, [tools.cmakeJs, 'compile', '--out', 'build', `--CDNODE_ADDON_API_DIR=${tools.napiInclude}`],
  { cwd: root, stdio: 'inherit' });
if (r.status === 0) {
  if (forced) {
    mkdirSync(dirname(join(root, FROM_SOURCE_MARK)), { recursive: true });
    writeFileSync(join(root, FROM_SOURCE_MARK), 'build/Release was built from source on request; src/binding.ts loads it before prebuilds/\n');
  }
  process.exit(0);
}
notBuilt(`building the native addon failed (see above); it ${needs}`, r.status ?? 1);

// The one place that says which cmake-js and node-addon-api build the addon: the exact
// versions in package.json's devDependencies, which a clone installs from the lockfile.
function pinnedTools() {
  const dev = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).devDependencies ?? {};
  const versions = {};
  for (const name of ['cmake-js', 'node-addon-api']) {
    if (!/^\d+\.\d+\.\d+$/.test(dev[name] ?? '')) {
      notBuilt(`${why}, but package.json pins no exact version of ${name} in devDependencies (${dev[name] ?? 'none'}), so this package is broken; please report it`, 1);
    }
    versions[name] = dev[name];
  }
  return versions;
}

// The pinned versions, where they can be required: from the package (a clone's
// devDependencies, or the consumer's own install), else from an earlier fetch.
function locateTools() {
  const dirs = {};
  for (const [name, version] of Object.entries(pinned)) {
    for (const from of [root, join(root, TOOLCHAIN)]) {
      try {
        const file = createRequire(join(from, 'package.json')).resolve(`${name}/package.json`);
        if (JSON.parse(readFileSync(file, 'utf8')).version === version) {
          dirs[name] = dirname(file);
          break;
        }
      } catch {
        // not there
      }
    }
    if (!dirs[name]) return undefined;
  }
  const napi = createRequire(join(root, 'package.json'))(dirs['node-addon-api']);
  return { cmakeJs: join(dirs['cmake-js'], 'bin', 'cmake-js'), napiInclude: resolve(napi.include_dir) };
}

// npm install of the pinned versions into build-toolchain/, with the npm that runs this
// install (its registry, proxy and cache settings come in its npm_config_* variables).
function fetchTools() {
  console.log(`sendmsg-shim: ${why}; fetching ${wanted} into ${TOOLCHAIN}/ for the build ` +
    '(only a source build uses them, so they are not dependencies of the package)');
  const dir = join(root, TOOLCHAIN);
  mkdirSync(dir, { recursive: true });
  // No install scripts (cmake-js and its dependencies have none) and no lockfile or
  // package.json to write: the folder is private to this package.
  const args = ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts',
    ...specs];
  // The outer install's settings of what and where to install (-g, -w, --omit, --dry-run, …)
  // are not this install's, and npm would warn that it does not know build_from_source.
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (/^npm_config_(global|location|prefix|local_prefix|workspaces?|include_workspace_root|omit|include|production|only|also|dev|dry_run|package_lock(_only)?|save(_[a-z]+)?|global_style|legacy_bundling|install_strategy|install_links|build_from_source)$/i.test(k)) {
      delete env[k];
    }
  }
  const execpath = process.env.npm_execpath;
  const r = execpath && /npm-cli\.c?js$/.test(execpath)
    ? spawnSync(process.execPath, [execpath, ...args], { cwd: dir, env, stdio: 'inherit' })
    : process.platform === 'win32'
      // npm.cmd runs only through a shell, which splits unquoted arguments at spaces.
      ? spawnSync(['npm.cmd', ...args.map((a) => `"${a}"`)].join(' '), { cwd: dir, env, stdio: 'inherit', shell: true })
      : spawnSync('npm', args, { cwd: dir, env, stdio: 'inherit' });
  return { status: r.status || 1, error: r.error ? r.error.message : r.status === 0 ? 'npm succeeded but left them out' : undefined };
}

// The build did not happen: say so, and fail the install only if nothing else can work.
function notBuilt(reason, status) {
  if (prebuild) {
    console.warn(`sendmsg-shim: ${reason}. The prebuilt addon ${relative(root, prebuild)} stays in use.`);
    process.exit(0);
  }
  let ffiRs = false;
  try {
    require.resolve('ffi-rs');
    ffiRs = ['linux-x64', 'linux-arm64'].includes(target);
  } catch {
    // not installed (an optional dependency with no binary for this platform)
  }
  if (!ffiRs) {
    console.error(`sendmsg-shim: ${reason}.`);
    process.exit(status);
  }
  console.warn(`sendmsg-shim: ${reason}; sendmsg-shim will use its ffi-rs backend, ` +
    'which needs no compiler but sends single datagrams about half as fast. Once the above is fixed, ' +
    'npm rebuild sendmsg-shim --build-from-source builds the addon');
  process.exit(0);
}
