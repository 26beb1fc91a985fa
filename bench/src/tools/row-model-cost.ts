/**
 * What one snapshot costs the console's row model (topology, alerts, rows) on the 4,000-VM
 * cluster of the console tests, when each new snapshot changes one node's record (a cordon
 * flip and a log line, as the fan-in stream does): the median and p90 over N snapshots of
 * `createRowModelMemo` from a console build. In-process and CPU-only, so it is far less
 * sensitive to a busy machine than the fan-in figures; pass `--dist DIR` (a copy of an
 * earlier packages/console/dist) to compare builds.
 *
 *   npx tsx bench/src/tools/row-model-cost.ts [--dist DIR] [--snapshots 300] [--per-site 50]
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ClusterSnapshot } from '@hvctl/common';

const argv = process.argv.slice(2);
const option = (flag: string): string | undefined => {
  const index = argv.indexOf(flag);
  return index >= 0 ? argv[index + 1] : undefined;
};
const dist = option('--dist');
const count = Number(option('--snapshots') ?? 300);
const perSite = Number(option('--per-site') ?? 50);

const load = async <T>(path: string, fallback: string): Promise<T> =>
  (await import(dist ? pathToFileURL(join(dist, path)).href : fallback)) as T;
const { createRowModelMemo } = await load<typeof import('@hvctl/console/dist/state/rows.js')>('state/rows.js', '@hvctl/console/dist/state/rows.js');
const { fakeLargeCluster } = await load<typeof import('@hvctl/console/dist/state/testing/large-cluster.js')>(
  'state/testing/large-cluster.js',
  '@hvctl/console/dist/state/testing/large-cluster.js',
);

const NOW = 1_700_000_000_000;
let snapshot: ClusterSnapshot = fakeLargeCluster({ nodesPerSite: perSite, nowMs: NOW });
const memo = createRowModelMemo(() => NOW);
memo(snapshot);
const times: number[] = [];
for (let i = 1; i <= count; i += 1) {
  const index = i % snapshot.nodes.length;
  snapshot = {
    ...snapshot,
    version: snapshot.version + 1,
    nodes: snapshot.nodes.map((connection, j) => {
      if (j !== index || !connection.state) return connection;
      const state = connection.state;
      const flags = { cordoned: i % 2 === 0, cordonReason: 'bench', maintenance: false, changedUnixMs: String(NOW) };
      const entry = { timeUnixMs: String(NOW + i), level: 'warn', area: 'node', message: 'cordoned: bench', node: connection.name };
      return {
        ...connection,
        revision: connection.revision + 1,
        state: { ...state, node: { ...state.node, flags: flags as never }, log: [...state.log.slice(-199), entry as never] },
      };
    }),
  };
  const started = performance.now();
  memo(snapshot);
  times.push(performance.now() - started);
}
times.sort((a, b) => a - b);
const at = (q: number): string => (times[Math.min(times.length - 1, Math.floor(q * times.length))] as number).toFixed(2);
const vms = snapshot.nodes.reduce((sum, connection) => sum + (connection.state?.domains.size ?? 0), 0);
process.stdout.write(
  `row model per snapshot (${snapshot.nodes.length} nodes, ${vms} VMs, one node changed each): median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms over ${count} snapshots; console build ${dist ?? 'packages/console/dist'}\n`,
);
