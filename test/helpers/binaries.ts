// Reads built addon files as the OS loaders will: the file header (what machine it is for),
// and, through binutils' readelf/objdump, what it needs from the system at load time.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export type Kind = 'ELF x86-64' | 'ELF aarch64' | 'PE32+ x86-64 DLL' | 'other';

/** What the file's own header says it is. */
export function kindOf(file: string): Kind {
  const b = readFileSync(file);
  if (b.length > 64 && b.readUInt32BE(0) === 0x7f454c46 && b[4] === 2 && b[5] === 1) {
    const machine = b.readUInt16LE(18); // e_machine
    if (b.readUInt16LE(16) !== 3) return 'other'; // ET_DYN: a shared object
    if (machine === 62) return 'ELF x86-64';
    if (machine === 183) return 'ELF aarch64';
    return 'other';
  }
  if (b.length > 0x40 && b.toString('latin1', 0, 2) === 'MZ') {
    const pe = b.readUInt32LE(0x3c);
    if (b.toString('latin1', pe, pe + 4) !== 'PE\0\0') return 'other';
    const machine = b.readUInt16LE(pe + 4);
    const characteristics = b.readUInt16LE(pe + 22);
    const magic = b.readUInt16LE(pe + 24);
    if (machine === 0x8664 && magic === 0x20b && (characteristics & 0x2000) !== 0) return 'PE32+ x86-64 DLL';
  }
  return 'other';
}

export interface ElfNeeds {
  needed: string[];
  /** Every symbol version the file asks of its libraries (GLIBC_2.17, GLIBCXX_3.4.29, ...). */
  versions: string[];
}

/** readelf -d (NEEDED) and -V (version needs) of an ELF file, any architecture. */
export function elfNeeds(file: string): ElfNeeds {
  const dyn = execFileSync('readelf', ['-W', '-d', file], { encoding: 'utf8' });
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const ver = execFileSync('readelf', ['-W', '-V', file], { encoding: 'utf8' });
  const start = ver.indexOf(".gnu.version_r'");
  const versions = start < 0 ? [] : [...ver.slice(start).matchAll(/Name: ([A-Z_]+_[0-9.]+)\s+Flags/g)].map((m) => m[1]);
  return { needed, versions: [...new Set(versions)].sort() };
}

/** The newest GLIBC_x.y asked for, as [x, y]; [0, 0] when none. */
export function newestGlibc(versions: string[]): [number, number] {
  let best: [number, number] = [0, 0];
  for (const v of versions) {
    const m = /^GLIBC_(\d+)\.(\d+)/.exec(v);
    if (!m) continue;
    const x: [number, number] = [Number(m[1]), Number(m[2])];
    if (x[0] > best[0] || (x[0] === best[0] && x[1] > best[1])) best = x;
  }
  return best;
}

/** objdump -p of a PE file: the DLLs it imports and the names it exports. */
export function peImportsExports(file: string): { dlls: string[]; exports: string[] } {
  const out = execFileSync('objdump', ['-p', file], { encoding: 'utf8' });
  const dlls = [...out.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1]);
  const table = out.indexOf('[Ordinal/Name Pointer] Table');
  const exports = table < 0 ? [] : [...out.slice(table).matchAll(/^\s*\[\s*\d+\]\s+(\S+)$/gm)].map((m) => m[1]);
  return { dlls, exports };
}

/** The prebuilt addons the package ships (scripts/prebuild.mjs writes them). */
export const PREBUILDS = {
  'linux-x64': { file: 'prebuilds/linux-x64/node.napi.glibc.node', kind: 'ELF x86-64' },
  'linux-arm64': { file: 'prebuilds/linux-arm64/node.napi.glibc.node', kind: 'ELF aarch64' },
  'win32-x64': { file: 'prebuilds/win32-x64/node.napi.node', kind: 'PE32+ x86-64 DLL' },
} as const;

/** Why an ELF addon would not load on glibc 2.28 without the C++ runtime, or [] if it would. */
export function portabilityProblems(file: string): string[] {
  const { needed, versions } = elfNeeds(file);
  const problems: string[] = [];
  for (const lib of needed) if (/^lib(stdc\+\+|gcc_s)\./.test(lib)) problems.push(`NEEDED ${lib}`);
  for (const v of versions) if (/^(GLIBCXX|CXXABI|GCC)_/.test(v)) problems.push(`needs ${v}`);
  const [major, minor] = newestGlibc(versions);
  if (major > 2 || (major === 2 && minor > 28)) problems.push(`needs GLIBC_${major}.${minor}`);
  return problems;
}

