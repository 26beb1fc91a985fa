import type { Role } from '@hvctl/common';
import { fit, seg, wrapSegments, type Line } from '../../state/format.js';
import { appliesTo, commandsByCategory, keyLabel, visibleCommands, type CommandSpec, type TargetKind } from './commands.js';

const KEYS_WIDTH = 18;

export interface HelpOptions {
  readonly readOnly?: boolean;
  /** The console identity's role: commands it may not run are not listed. */
  readonly role?: Role | undefined;
  /** The selected row a workflow would act on (undefined: none, or the witness). */
  readonly selection?: { readonly kind: TargetKind; readonly name: string } | undefined;
  /** Wrap each entry to this width (the overlay's); unset, every entry is one line. */
  readonly width?: number;
}

const kindLabel = (kind: TargetKind): string => (kind === 'vm' ? 'VM' : kind);

/** "(select a VM)", "(select a node or site)" for a command that does not apply to the selection. */
function needs(entry: CommandSpec): string {
  const kinds = entry.appliesTo ?? [];
  return `  (select a ${kinds.map(kindLabel).join(' or ')})`;
}

/**
 * The help overlay's lines, generated from the key table (commands that change the cluster
 * hidden in read-only mode). Commands that act on the selection are greyed, with what to
 * select, when they do not apply to the current one.
 */
export function helpLines(options: HelpOptions = {}): readonly Line[] {
  const lines: Line[] = [];
  const { selection } = options;
  for (const group of commandsByCategory(visibleCommands(options))) {
    if (lines.length > 0) lines.push({ segments: [] });
    const acts = group.commands.some((entry) => entry.appliesTo);
    const about = acts ? (selection ? `  for the selection: ${kindLabel(selection.kind)} ${selection.name}` : '  nothing selected applies') : '';
    lines.push({ segments: [seg(group.category, 'accent', true), seg(about, 'muted')] });
    for (const entry of group.commands) {
      const offered = !entry.appliesTo || appliesTo(entry, selection?.kind);
      const keys = seg(`  ${fit(entry.keys.map(keyLabel).join(' '), KEYS_WIDTH)} `, offered ? 'normal' : 'muted', true);
      const body = [
        seg(entry.description, !offered ? 'muted' : entry.dangerous ? 'bad' : 'normal'),
        seg(entry.dangerous ? '  (asks for confirmation)' : '', offered ? 'bad' : 'muted'),
        seg(offered ? '' : needs(entry), 'muted'),
        seg(`  ${entry.id}`, 'muted'),
      ];
      if (options.width) lines.push(...wrapSegments([keys], body, options.width));
      else lines.push({ segments: [keys, ...body] });
    }
  }
  return lines;
}
