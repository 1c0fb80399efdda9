import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** Where a Parley process spent its CPU during one suite, from V8's `--cpu-prof` samples. */
export interface ProfileSummary {
  /** Busy (non-idle) time sampled, in seconds. */
  busySeconds: number;
  /** Share of busy time per area: a package, Parley's own code, GC, native work (syscalls, I/O, JIT). */
  areas: { area: string; share: number }[];
  /** The functions with the most self time. */
  functions: { name: string; where: string; share: number }[];
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples: number[];
  timeDeltas: number[];
}

function areaOf(url: string, name: string): string {
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(program)') return 'native (syscalls, I/O, compiler)';
  if (!url) return name.startsWith('(') ? name : 'native builtins';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return 'Node.js core';
  if (url.includes('/dist/src/')) return 'Parley';
  return path.basename(url);
}

/** Self time per area and per function, over every profile `files` holds, idle time left out. */
export function summarise(files: string[], top = 12): ProfileSummary {
  const areas = new Map<string, number>();
  const functions = new Map<string, { name: string; where: string; micros: number }>();
  let busy = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    profile.samples.forEach((id, i) => {
      const { callFrame } = byId.get(id)!;
      if (callFrame.functionName === '(idle)') return;
      const micros = profile.timeDeltas[i] ?? 0;
      busy += micros;
      const area = areaOf(callFrame.url, callFrame.functionName);
      areas.set(area, (areas.get(area) ?? 0) + micros);
      const where = callFrame.url ? `${callFrame.url.replace(/^.*\/(node_modules|dist)\//, '')}:${callFrame.lineNumber + 1}` : '';
      const key = `${callFrame.functionName}@${where}`;
      const entry = functions.get(key) ?? { name: callFrame.functionName || '(anonymous)', where, micros: 0 };
      entry.micros += micros;
      functions.set(key, entry);
    });
  }
  const share = (micros: number) => Math.round((micros / Math.max(1, busy)) * 1000) / 10;
  return {
    busySeconds: Math.round(busy / 10_000) / 100,
    areas: [...areas].sort((a, b) => b[1] - a[1]).slice(0, top).map(([area, micros]) => ({ area, share: share(micros) })),
    functions: [...functions.values()].sort((a, b) => b.micros - a.micros).slice(0, top).map(({ name, where, micros }) => ({ name, where, share: share(micros) })),
  };
}

/** The `.cpuprofile` files in `dir` not in `before` (a suite's Parley processes write theirs on exit). */
export function newProfiles(dir: string, before: Set<string>): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile') && !before.has(name))
    .map((name) => path.join(dir, name));
}

export function profilesIn(dir: string): Set<string> {
  return new Set(readdirSync(dir).filter((name) => name.endsWith('.cpuprofile')));
}
