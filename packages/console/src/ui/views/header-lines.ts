import { seg, type Line, type Segment } from '../../state/format.js';
import type { RowModel } from '../../state/rows.js';

/** True when the header's red marker is lit: a node is down or an invariant looks broken. */
export const alarmed = (model: RowModel): boolean => model.alerts.some((alert) => alert.level === 'bad');

/**
 * The two header lines: the cluster and its counts (spelled out when there is room), then
 * the alerts, or "all invariants hold" when there are none.
 */
export function headerLines(model: RowModel, title: string | undefined, width: number): readonly [Line, Line] {
  const { health, cluster } = model.topology;
  const wide = width >= 110;
  const name = title && title !== cluster ? `${cluster} (${title})` : cluster;
  const first: Segment[] = [seg(' hvctl ', 'accent', true), seg(`${name} `, 'normal', true)];
  // The marker goes first so that a narrow terminal never cuts it off.
  if (alarmed(model)) first.push(seg(' ALERT ', 'bad', true));
  else if (model.alerts.length > 0) first.push(seg(' WARN ', 'warn', true));
  first.push(seg(' nodes '), seg(`${health.nodesUp} up`, 'ok'));
  // A node still connecting since the console started is not counted as down.
  const connecting = model.connecting.size;
  const down = health.nodesDown - connecting;
  first.push(seg(wide ? ', ' : ' '), seg(`${down} down`, down > 0 ? 'bad' : 'muted', down > 0));
  if (connecting > 0) first.push(seg(wide ? ', ' : ' '), seg(`${connecting} connecting`, 'warn'));
  // Counted here rather than from health: a VM on an unreachable node is "unknown", not stopped.
  const unknown = model.topology.vms.filter((vm) => vm.state === 'unknown').length;
  const stopped = model.topology.vms.length - health.vmsRunning - unknown;
  first.push(seg(wide ? '  │  VMs ' : '  VMs '), seg(`${health.vmsRunning} ${wide ? 'running' : 'run'}`, 'ok'));
  if (wide || stopped > 0) first.push(seg(wide ? ', ' : ' '), seg(`${stopped} ${wide ? 'stopped' : 'stop'}`, stopped > 0 ? 'warn' : 'muted'));
  if (unknown > 0) first.push(seg(wide ? ', ' : ' '), seg(`${unknown} unknown`, 'bad'));
  first.push(
    seg(wide ? '  │  resources ' : '  res '),
    seg(`${health.resourcesDegraded}/${health.resourcesTotal} degraded`, health.resourcesDegraded > 0 ? 'warn' : 'muted'),
  );

  const second: Segment[] = [];
  if (model.alerts.length === 0) {
    // The keys are in the footer line (they depend on the selection).
    second.push(seg(' all invariants hold', 'ok'), seg('  ·  Tab next pane', 'muted'));
  } else {
    let used = 0;
    for (const [index, alert] of model.alerts.entries()) {
      const text = `${index === 0 ? ' ! ' : ' · '}${alert.message}`;
      const remaining = model.alerts.length - index - 1;
      const reserve = remaining > 0 ? ` (+${remaining} more)`.length : 0;
      if (index > 0 && used + text.length + reserve > width) {
        second.push(seg(` (+${remaining + 1} more)`, 'muted'));
        break;
      }
      second.push(seg(text, alert.level, alert.level === 'bad'));
      used += text.length;
    }
  }
  return [{ segments: first }, { segments: second }];
}
