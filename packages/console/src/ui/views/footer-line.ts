import { clipLine, seg, type Line, type Segment } from '../../state/format.js';
import type { Row } from '../../state/rows.js';
import { runningExecutions, workflowCommandsFor, type WorkflowUi } from '../../state/workflow.js';
import type { Role } from '@hvctl/common';
import { Command, commandSpec, keyLabel, permitted } from '../key/commands.js';

export interface FooterContext {
  readonly row: Row | undefined;
  readonly workflow: WorkflowUi;
  readonly readOnly: boolean;
  /** The console identity's role: keys for commands it may not run are not hinted. */
  readonly role?: Role | undefined;
  /** True while the topology shows (no help, confirmation, plan screen or execution view). */
  readonly onTopology: boolean;
}

const STATE_TONES = { succeeded: 'ok', failed: 'bad', refused: 'bad', aborted: 'warn', interrupted: 'warn' } as const;

function hint(command: Command): Segment[] {
  const spec = commandSpec(command);
  return [seg(keyLabel(spec.keys[0] ?? ''), spec.dangerous ? 'bad' : 'normal', true), seg(` ${spec.hint ?? spec.id}  `, 'muted')];
}

/**
 * The bottom line: the workflows started here (running ones first: they go on in their
 * agents even when nobody watches), then the keys that apply to the selection, then help
 * and quit. Cut at `width`, so the most important part is first.
 */
export function footerLine(context: FooterContext, width: number): Line {
  const { workflow } = context;
  const segments: Segment[] = [];
  const running = runningExecutions(workflow);
  const last = workflow.executions.at(-1);
  const away = workflow.screen !== 'execution';
  if (running.length === 1 && running[0]) {
    segments.push(seg('● ', 'accent', true), seg(`workflow ${running[0].id} running`, 'accent', true), seg(away ? ' (w shows it)  ' : '  ', 'muted'));
  } else if (running.length > 1) {
    segments.push(seg('● ', 'accent', true), seg(`${running.length} workflows running`, 'accent', true), seg(away ? ` (w shows ${last?.id ?? 'the last'})  ` : '  ', 'muted'));
  } else if (last && away) {
    const state = last.workflow.state;
    const tone = state in STATE_TONES ? STATE_TONES[state as keyof typeof STATE_TONES] : 'normal';
    segments.push(seg(`workflow ${last.id} `, 'muted'), seg(state, tone, true), seg(' (w shows it)  ', 'muted'));
  }
  if (context.onTopology && !context.readOnly) {
    for (const command of workflowCommandsFor(context.row)) if (permitted(commandSpec(command), context.role)) segments.push(...hint(command));
  }
  segments.push(...hint(Command.ViewHelp), ...hint(Command.AppQuit));
  return clipLine({ segments }, width);
}
