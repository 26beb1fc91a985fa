/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self
 * time, and the most inclusive time, so a missed target can be traced to a function.
 *
 *   npx tsx bench/src/tools/profile-summary.ts PROFILE.cpuprofile [--top 25] [--filter text]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileLine {
  readonly name: string;
  readonly selfMs: number;
  readonly totalMs: number;
}

const shortUrl = (url: string): string =>
  url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\//, '~/')
    .replace(/.*\/packages\//, '')
    .replace(/^node:/, 'node:');

/** Self and inclusive time per function (name + file:line), in ms. */
export function summariseProfile(profile: Profile): { lines: ProfileLine[]; totalMs: number; idleMs: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, index) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const key = (node: ProfileNode): string =>
    `${node.callFrame.functionName || '(anonymous)'} ${shortUrl(node.callFrame.url)}${node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : ''}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let idleUs = 0;
  let allUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    allUs += us;
    if (node.callFrame.functionName === '(idle)') idleUs += us;
    self.set(key(node), (self.get(key(node)) ?? 0) + us);
    // Inclusive: count each function once per sample stack (recursion counted once).
    const seen = new Set<string>();
    for (let cursor: number | undefined = id; cursor !== undefined; cursor = parent.get(cursor)) {
      const frame = byId.get(cursor);
      if (!frame) break;
      const name = key(frame);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + us);
    }
  }
  const lines = [...total.entries()].map(([name, us]) => ({ name, selfMs: (self.get(name) ?? 0) / 1000, totalMs: us / 1000 }));
  return { lines, totalMs: allUs / 1000, idleMs: idleUs / 1000 };
}

function main(): void {
  const args = process.argv.slice(2);
  const file = args.find((arg) => !arg.startsWith('--'));
  if (!file) {
    process.stderr.write('usage: profile-summary.ts PROFILE.cpuprofile [--top N] [--filter TEXT]\n');
    process.exit(2);
  }
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 25;
  const filterIndex = args.indexOf('--filter');
  const filter = filterIndex >= 0 ? (args[filterIndex + 1] ?? '') : '';
  const { lines, totalMs, idleMs } = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const pick = (list: ProfileLine[]): ProfileLine[] => list.filter((line) => !filter || line.name.includes(filter)).slice(0, top);
  const fmt = (line: ProfileLine): string => `${line.selfMs.toFixed(0).padStart(7)} ${line.totalMs.toFixed(0).padStart(7)}  ${line.name}`;
  process.stdout.write(`profile ${file}: ${totalMs.toFixed(0)} ms sampled, ${idleMs.toFixed(0)} ms idle (${((100 * (totalMs - idleMs)) / totalMs).toFixed(1)}% busy)\n`);
  process.stdout.write(`\n   self   total  (top by self time, ms)\n`);
  for (const line of pick([...lines].sort((a, b) => b.selfMs - a.selfMs))) process.stdout.write(`${fmt(line)}\n`);
  process.stdout.write(`\n   self   total  (top by inclusive time, ms)\n`);
  for (const line of pick([...lines].sort((a, b) => b.totalMs - a.totalMs))) process.stdout.write(`${fmt(line)}\n`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) main();
