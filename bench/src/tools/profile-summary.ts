/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self
 * time, and the most inclusive time, so a missed target can be traced to a function. Given a
 * .heapprofile (sampled allocations, from the bench's `--profile`), the same for megabytes
 * allocated.
 *
 *   npx tsx bench/src/tools/profile-summary.ts PROFILE.cpuprofile|PROFILE.heapprofile [--top 25] [--filter text]
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

/** One function's cost: ms of CPU for a .cpuprofile, MB allocated for a .heapprofile. */
export interface ProfileLine {
  readonly name: string;
  readonly self: number;
  readonly total: number;
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
  const lines = [...total.entries()].map(([name, us]) => ({ name, self: (self.get(name) ?? 0) / 1000, total: us / 1000 }));
  return { lines, totalMs: allUs / 1000, idleMs: idleUs / 1000 };
}

interface HeapProfileNode {
  callFrame: ProfileNode['callFrame'];
  selfSize: number;
  children: HeapProfileNode[];
}

/** Bytes allocated per function (name + file:line), self and inclusive, in MB (a .heapprofile's sampled tree). */
export function summariseHeapProfile(head: HeapProfileNode): { lines: ProfileLine[]; totalMB: number } {
  const key = (node: HeapProfileNode): string =>
    `${node.callFrame.functionName || '(anonymous)'} ${shortUrl(node.callFrame.url)}${node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : ''}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  // Inclusive: a node's subtree counted once per function on its stack (recursion counted once).
  const walk = (node: HeapProfileNode, stack: ReadonlySet<string>): number => {
    const name = key(node);
    self.set(name, (self.get(name) ?? 0) + node.selfSize);
    all += node.selfSize;
    const inner = new Set(stack).add(name);
    const subtree = node.selfSize + node.children.reduce((sum, child) => sum + walk(child, inner), 0);
    if (!stack.has(name)) total.set(name, (total.get(name) ?? 0) + subtree);
    return subtree;
  };
  walk(head, new Set());
  const lines = [...total.entries()].map(([name, bytes]) => ({ name, self: (self.get(name) ?? 0) / 1e6, total: bytes / 1e6 }));
  return { lines, totalMB: all / 1e6 };
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
  const pick = (list: ProfileLine[]): ProfileLine[] => list.filter((line) => !filter || line.name.includes(filter)).slice(0, top);
  const fmt = (line: ProfileLine): string => `${line.self.toFixed(0).padStart(7)} ${line.total.toFixed(0).padStart(7)}  ${line.name}`;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Profile | { head: HeapProfileNode };
  let unit = 'ms';
  let lines: ProfileLine[];
  if ('head' in parsed) {
    const heap = summariseHeapProfile(parsed.head);
    lines = heap.lines;
    unit = 'MB allocated';
    process.stdout.write(`heap profile ${file}: ${heap.totalMB.toFixed(0)} MB allocated (sampled)\n`);
  } else {
    const cpu = summariseProfile(parsed);
    lines = cpu.lines;
    process.stdout.write(`profile ${file}: ${cpu.totalMs.toFixed(0)} ms sampled, ${cpu.idleMs.toFixed(0)} ms idle (${((100 * (cpu.totalMs - cpu.idleMs)) / cpu.totalMs).toFixed(1)}% busy)\n`);
  }
  process.stdout.write(`\n   self   total  (top by self, ${unit})\n`);
  for (const line of pick([...lines].sort((a, b) => b.self - a.self))) process.stdout.write(`${fmt(line)}\n`);
  process.stdout.write(`\n   self   total  (top by inclusive, ${unit})\n`);
  for (const line of pick([...lines].sort((a, b) => b.total - a.total))) process.stdout.write(`${fmt(line)}\n`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) main();
