import { roleAtLeast, type Role } from '@hvctl/common';

/**
 * The console's one key table. Every key the console reads is bound here; the help
 * overlay and the key list in docs/console.md are generated from this table
 * (`keyTableMarkdown()`), so a binding cannot exist without being documented.
 */

/** Namespaced command ids. The namespace before the dot is the area the command acts on. */
export enum Command {
  NavUp = 'nav.up',
  NavDown = 'nav.down',
  NavPageUp = 'nav.pageUp',
  NavPageDown = 'nav.pageDown',
  NavHome = 'nav.home',
  NavEnd = 'nav.end',
  FocusNext = 'focus.next',
  FocusPrev = 'focus.prev',
  ViewHelp = 'view.help',
  ViewToggleDetail = 'view.toggleDetail',
  ViewClose = 'view.close',
  LogScrollUp = 'log.scrollUp',
  LogScrollDown = 'log.scrollDown',
  WorkflowMigrate = 'workflow.migrate',
  WorkflowDrain = 'workflow.drain',
  WorkflowUndrain = 'workflow.undrain',
  WorkflowUndrainReturn = 'workflow.undrainReturn',
  WorkflowFailover = 'workflow.failover',
  WorkflowFailback = 'workflow.failback',
  WorkflowRun = 'workflow.run',
  WorkflowAbort = 'workflow.abort',
  WorkflowShow = 'workflow.show',
  AppQuit = 'app.quit',
}

/** Help and docs group commands by category, in this order. */
export const CATEGORIES = ['Navigation', 'Panes and views', 'Event log', 'Workflows', 'Application'] as const;
export type Category = (typeof CATEGORIES)[number];

/**
 * Who reads the key: `global` keys are read by the App whatever pane has the focus;
 * `pane` keys are read only by the focused pane (or by the help overlay while it is open).
 */
export type CommandScope = 'global' | 'pane';

/** The kinds of topology row a command can act on (its target is the selected row). */
export type TargetKind = 'site' | 'node' | 'vm';

export interface CommandSpec {
  readonly id: Command;
  /**
   * Default bindings, as key names: a printable character (`j`, `G`, `?`), a named key
   * (`up`, `down`, `pageup`, `pagedown`, `home`, `end`, `tab`, `escape`, `return`), or a
   * modifier chord (`ctrl+c`, `shift+tab`, `shift+up`). See `keyName()` in keys.ts.
   */
  readonly keys: readonly string[];
  readonly description: string;
  readonly category: Category;
  readonly scope: CommandScope;
  /**
   * True for commands that change the cluster in a way that is hard to undo (force-promote,
   * failover, destroy). A dangerous command is hidden in read-only mode and runs only after
   * the operator types the target's name into a confirmation with Cancel focused
   * (see the `confirm` part of ui-state.ts and views/ConfirmDialog.tsx).
   */
  readonly dangerous: boolean;
  /**
   * True for commands that change the cluster (every workflow command). They are hidden
   * and refused in read-only mode. Every dangerous command also changes the cluster.
   */
  readonly changesCluster: boolean;
  /**
   * For commands that act on the selected topology row: the row kinds they apply to. The
   * footer and the help offer such a command only while a row of these kinds is selected.
   */
  readonly appliesTo?: readonly TargetKind[];
  /** A word or two for the footer's key hints (`m migrate`); commands without one are not hinted. */
  readonly hint?: string;
  /** The least role the agents accept for what the command does (see docs/security.md); unset: any. */
  readonly needs?: 'operator' | 'admin';
}

interface SpecFlags {
  readonly dangerous?: boolean;
  readonly changesCluster?: boolean;
  readonly appliesTo?: readonly TargetKind[];
  readonly hint?: string;
  readonly needs?: 'operator' | 'admin';
}

const spec = (id: Command, keys: readonly string[], description: string, category: Category, scope: CommandScope, flags: SpecFlags = {}): CommandSpec => ({
  id,
  keys,
  description,
  category,
  scope,
  dangerous: flags.dangerous ?? false,
  changesCluster: (flags.changesCluster ?? false) || (flags.dangerous ?? false),
  ...(flags.appliesTo ? { appliesTo: flags.appliesTo } : {}),
  ...(flags.hint ? { hint: flags.hint } : {}),
  ...(flags.needs ? { needs: flags.needs } : {}),
});

/** The table. Order here is the order in help and docs. */
export const COMMANDS: readonly CommandSpec[] = [
  spec(Command.NavUp, ['up', 'k'], 'Select the previous row (or scroll the focused pane up)', 'Navigation', 'pane'),
  spec(Command.NavDown, ['down', 'j'], 'Select the next row (or scroll the focused pane down)', 'Navigation', 'pane'),
  spec(Command.NavPageUp, ['pageup', 'ctrl+b'], 'One page up', 'Navigation', 'pane'),
  spec(Command.NavPageDown, ['pagedown', 'ctrl+f'], 'One page down', 'Navigation', 'pane'),
  spec(Command.NavHome, ['home', 'g'], 'Jump to the first row', 'Navigation', 'pane'),
  spec(Command.NavEnd, ['end', 'G'], 'Jump to the last row', 'Navigation', 'pane'),
  spec(Command.FocusNext, ['tab'], 'Focus the next pane (topology, detail, event log)', 'Panes and views', 'global'),
  spec(Command.FocusPrev, ['shift+tab'], 'Focus the previous pane', 'Panes and views', 'global'),
  spec(Command.ViewHelp, ['?'], 'Open or close the key help', 'Panes and views', 'global', { hint: 'help' }),
  spec(Command.ViewToggleDetail, ['d'], 'Show or hide the detail pane', 'Panes and views', 'global'),
  spec(Command.ViewClose, ['escape'], 'Close the help, cancel a plan or a confirmation, or detach from a running workflow', 'Panes and views', 'global'),
  spec(Command.LogScrollUp, ['[', 'shift+up'], 'Scroll the event log back (older entries)', 'Event log', 'global'),
  spec(Command.LogScrollDown, [']', 'shift+down'], 'Scroll the event log forward (back to the newest)', 'Event log', 'global'),
  spec(Command.WorkflowMigrate, ['m'], 'Live-migrate the selected VM to its DRBD peer (shows the plan first)', 'Workflows', 'global', {
    changesCluster: true,
    hint: 'migrate',
    appliesTo: ['vm'],
    needs: 'operator',
  }),
  spec(Command.WorkflowDrain, ['D'], 'Drain the selected node for maintenance: move its VMs away, 2 at a time (plan first)', 'Workflows', 'global', {
    changesCluster: true,
    hint: 'drain',
    appliesTo: ['node'],
    needs: 'operator',
  }),
  spec(Command.WorkflowUndrain, ['U'], 'Undrain the selected node: health-check, resync, uncordon (plan first)', 'Workflows', 'global', {
    changesCluster: true,
    hint: 'undrain',
    appliesTo: ['node'],
    needs: 'operator',
  }),
  spec(Command.WorkflowUndrainReturn, ['R'], 'Undrain the selected node and migrate its VMs back home (plan first)', 'Workflows', 'global', {
    changesCluster: true,
    hint: 'undrain+return',
    appliesTo: ['node'],
    needs: 'operator',
  }),
  spec(Command.WorkflowFailover, ['F'], 'Fail over the selected lost node or site: fence it, recover its VMs on the survivors (plan first)', 'Workflows', 'global', {
    dangerous: true,
    hint: 'failover',
    appliesTo: ['node', 'site'],
    needs: 'admin',
  }),
  spec(Command.WorkflowFailback, ['B'], 'Fail back the selected node once it returned: resync, then move its VMs home (plan first)', 'Workflows', 'global', {
    changesCluster: true,
    hint: 'failback',
    appliesTo: ['node'],
    needs: 'admin',
  }),
  spec(Command.WorkflowRun, ['return'], 'On the plan screen: run the plan (a dangerous one asks for the target name first)', 'Workflows', 'pane', { changesCluster: true, needs: 'operator' }),
  spec(Command.WorkflowAbort, ['a'], 'On the execution view: abort the running workflow (asks y/N; it rolls back to a safe state)', 'Workflows', 'pane', {
    changesCluster: true,
    needs: 'operator',
  }),
  spec(Command.WorkflowShow, ['w'], 'Reopen the execution view of the last workflow started here', 'Workflows', 'global', { hint: 'workflow' }),
  spec(Command.AppQuit, ['q', 'ctrl+c'], 'Quit the console (VMs, agents and running workflows keep running)', 'Application', 'global', { hint: 'quit' }),
];

const BY_ID: ReadonlyMap<Command, CommandSpec> = new Map(COMMANDS.map((entry) => [entry.id, entry]));

/** The table entry of one command. */
export function commandSpec(command: Command): CommandSpec {
  const found = BY_ID.get(command);
  if (!found) throw new Error(`command ${command} is missing from the key table`);
  return found;
}

/**
 * May the console's identity run `entry`? Without a known role (a plaintext lab, or an
 * identity the console cannot read) every command is offered and the agents decide.
 */
export function permitted(entry: CommandSpec, role: Role | undefined): boolean {
  return role === undefined || entry.needs === undefined || roleAtLeast(role, entry.needs);
}

/**
 * Commands offered to the operator. Read-only mode hides every command that changes the
 * cluster (dangerous or not) and the whole Workflows category (nothing can be started); a
 * role hides what it may not run (a viewer: every workflow; an operator: failover, failback).
 */
export function visibleCommands(options: { readonly readOnly?: boolean; readonly role?: Role | undefined } = {}): readonly CommandSpec[] {
  const shown = COMMANDS.filter((entry) => permitted(entry, options.role));
  return options.readOnly ? shown.filter((entry) => !entry.changesCluster && !entry.dangerous && entry.category !== 'Workflows') : shown;
}

/** True when `command` acts on the selected row and applies to a row of `kind`. */
export function appliesTo(command: CommandSpec, kind: TargetKind | undefined): boolean {
  return command.appliesTo !== undefined && kind !== undefined && command.appliesTo.includes(kind);
}

const KEY_LABELS: Readonly<Record<string, string>> = {
  up: '↑',
  down: '↓',
  left: '←',
  right: '→',
  pageup: 'PgUp',
  pagedown: 'PgDn',
  home: 'Home',
  end: 'End',
  tab: 'Tab',
  escape: 'Esc',
  return: 'Enter',
  space: 'Space',
};

/** How a key name is shown to people: `ctrl+c` -> `Ctrl-C`, `up` -> `↑`, `G` -> `G`. */
export function keyLabel(key: string): string {
  if (key.length === 1) return key;
  const parts = key.split('+');
  const base = parts.pop() ?? key;
  const modifiers = parts.map((modifier) => modifier.charAt(0).toUpperCase() + modifier.slice(1));
  const baseLabel = KEY_LABELS[base] ?? (base.length === 1 ? base.toUpperCase() : base);
  return [...modifiers, baseLabel].join('-');
}

/** Commands grouped by category, in table order, for the help overlay and the docs. */
export function commandsByCategory(
  commands: readonly CommandSpec[] = COMMANDS,
): readonly { readonly category: Category; readonly commands: readonly CommandSpec[] }[] {
  return CATEGORIES.map((category) => ({ category, commands: commands.filter((entry) => entry.category === category) })).filter(
    (group) => group.commands.length > 0,
  );
}

const markdownCell = (text: string): string => text.replace(/\|/g, '\\|');
const markdownKey = (key: string): string => (key === '`' ? '`` ` ``' : `\`${keyLabel(key)}\``);

/**
 * The key list as Markdown, one table per category. docs/console.md embeds this output
 * verbatim between `<!-- keys:begin -->` and `<!-- keys:end -->`; a test fails when they drift.
 */
export function keyTableMarkdown(): string {
  const lines: string[] = [];
  for (const group of commandsByCategory()) {
    lines.push(`### ${group.category}`, '', '| Keys | Command | What it does |', '| --- | --- | --- |');
    for (const entry of group.commands) {
      const keys = entry.keys.map(markdownKey).join(', ');
      const target = entry.appliesTo ? ` Selection: ${entry.appliesTo.map((kind) => (kind === 'vm' ? 'VM' : kind)).join(' or ')}.` : '';
      const danger = entry.dangerous ? ' **Dangerous:** asks for the target name first.' : '';
      lines.push(`| ${keys} | \`${entry.id}\` | ${markdownCell(entry.description)}.${target}${danger} |`);
    }
    lines.push('');
  }
  return lines.join('\n').trimEnd() + '\n';
}
