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
  AppQuit = 'app.quit',
}

/** Help and docs group commands by category, in this order. */
export const CATEGORIES = ['Navigation', 'Panes and views', 'Event log', 'Application'] as const;
export type Category = (typeof CATEGORIES)[number];

/**
 * Who reads the key: `global` keys are read by the App whatever pane has the focus;
 * `pane` keys are read only by the focused pane (or by the help overlay while it is open).
 */
export type CommandScope = 'global' | 'pane';

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
}

const spec = (
  id: Command,
  keys: readonly string[],
  description: string,
  category: Category,
  scope: CommandScope,
  dangerous = false,
): CommandSpec => ({ id, keys, description, category, scope, dangerous });

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
  spec(Command.ViewHelp, ['?'], 'Open or close the key help', 'Panes and views', 'global'),
  spec(Command.ViewToggleDetail, ['d'], 'Show or hide the detail pane', 'Panes and views', 'global'),
  spec(Command.ViewClose, ['escape'], 'Close the help or cancel a confirmation', 'Panes and views', 'global'),
  spec(Command.LogScrollUp, ['[', 'shift+up'], 'Scroll the event log back (older entries)', 'Event log', 'global'),
  spec(Command.LogScrollDown, [']', 'shift+down'], 'Scroll the event log forward (back to the newest)', 'Event log', 'global'),
  spec(Command.AppQuit, ['q', 'ctrl+c'], 'Quit the console (VMs and agents keep running)', 'Application', 'global'),
];

const BY_ID: ReadonlyMap<Command, CommandSpec> = new Map(COMMANDS.map((entry) => [entry.id, entry]));

/** The table entry of one command. */
export function commandSpec(command: Command): CommandSpec {
  const found = BY_ID.get(command);
  if (!found) throw new Error(`command ${command} is missing from the key table`);
  return found;
}

/** Commands offered to the operator: dangerous ones are hidden in read-only mode. */
export function visibleCommands(options: { readonly readOnly?: boolean } = {}): readonly CommandSpec[] {
  return options.readOnly ? COMMANDS.filter((entry) => !entry.dangerous) : COMMANDS;
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
      const danger = entry.dangerous ? ' **Dangerous:** asks for the target name first.' : '';
      lines.push(`| ${keys} | \`${entry.id}\` | ${markdownCell(entry.description)}.${danger} |`);
    }
    lines.push('');
  }
  return lines.join('\n').trimEnd() + '\n';
}
