import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SuiteContext } from '../lib/context.js';
import { failed, figure, skipped, type Target } from '../lib/figures.js';
import { REPO } from '../lib/procs.js';

/** Issue #6, part 2: the DRBD events2 parser. */
export const PARSER_TARGET: Target = { op: '>', limit: 100_000 };
const NAME = 'agent.drbd-events2-parser';
const UNIT = 'lines/s';

/**
 * `drbdsetup events2 --now --timestamps --statistics` output for `resources` resources with
 * two peers each, then a stream of changes (roles, disk states, resync progress), in the
 * format of drbd-utils 9 (see docs/reference/tools.md).
 */
export function events2Lines(resources: number, changes: number): string[] {
  const lines: string[] = [];
  const time = (i: number): string => `2026-11-23T12:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.${String(i % 1000).padStart(3, '0')}000+00:00`;
  for (let r = 0; r < resources; r += 1) {
    const name = `vm-msk-1-${r + 1}`;
    const t = time(r);
    lines.push(`${t} exists resource name:${name} role:Primary suspended:no force-io-failures:no may_promote:no promotion_score:10102 write-ordering:flush`);
    lines.push(`${t} exists connection name:${name} peer-node-id:1 conn-name:spb-1 connection:Connected role:Secondary congested:no ap-in-flight:0 rs-in-flight:0`);
    lines.push(`${t} exists connection name:${name} peer-node-id:2 conn-name:bak-1 connection:Connected role:Secondary congested:no ap-in-flight:0 rs-in-flight:0`);
    lines.push(`${t} exists device name:${name} volume:0 minor:${1000 + r} backing_dev:/dev/vg0/${name} disk:UpToDate client:no quorum:yes size:20971520 read:1234 written:56789 al-writes:12 bm-writes:3 upper-pending:0 lower-pending:0 al-suspended:no blocked:no`);
    lines.push(`${t} exists peer-device name:${name} peer-node-id:1 conn-name:spb-1 volume:0 replication:Established peer-disk:UpToDate peer-client:no resync-suspended:no received:0 sent:56789 out-of-sync:0 pending:0 unacked:0`);
    lines.push(`${t} exists peer-device name:${name} peer-node-id:2 conn-name:bak-1 volume:0 replication:Established peer-disk:Diskless peer-client:yes resync-suspended:no received:0 sent:0 out-of-sync:0 pending:0 unacked:0`);
  }
  lines.push(`${time(resources)} exists -`);
  for (let i = 0; i < changes; i += 1) {
    const name = `vm-msk-1-${(i % resources) + 1}`;
    const t = time(resources + i);
    switch (i % 4) {
      case 0:
        lines.push(`${t} change peer-device name:${name} peer-node-id:1 conn-name:spb-1 volume:0 replication:SyncSource peer-disk:Inconsistent done:${(i % 1000) / 10} eta:${i % 300}`);
        break;
      case 1:
        lines.push(`${t} change connection name:${name} peer-node-id:1 conn-name:spb-1 connection:Connecting`);
        break;
      case 2:
        lines.push(`${t} change resource name:${name} role:Secondary`);
        break;
      default:
        lines.push(`${t} change device name:${name} volume:0 minor:${1000 + (i % resources)} disk:UpToDate quorum:yes`);
    }
  }
  return lines;
}

type Parse = (input: string) => unknown;

/**
 * Finds the real events2 parser in packages/agent/dist/drivers/real/drbd/ (being written for
 * issue #4): an exported function whose name mentions events2 (or "Events") and parse.
 * A per-line parser ("...Line") is called per line; otherwise it gets the whole text.
 */
interface Found {
  readonly parse: Parse;
  readonly perLine: boolean;
  readonly where: string;
  /** The stream's state machine (a class with `apply(parsedLine)`), when the module has one. */
  readonly State?: new () => { apply(line: unknown): unknown };
  readonly stateName?: string;
}

async function findParser(): Promise<Found | string> {
  const dir = join(REPO, 'packages', 'agent', 'dist', 'drivers', 'real', 'drbd');
  if (!existsSync(dir)) return 'parser not built yet: packages/agent/dist/drivers/real/drbd/ does not exist';
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.js') && !file.includes('.test.'));
  for (const file of files) {
    const module = (await import(pathToFileURL(join(dir, file)).href)) as Record<string, unknown>;
    for (const [exported, value] of Object.entries(module)) {
      if (typeof value !== 'function' || !/parse/i.test(exported) || !/events2|events/i.test(exported)) continue;
      const state = Object.entries(module).find(
        ([key, candidate]) => typeof candidate === 'function' && /state/i.test(key) && typeof (candidate as { prototype?: { apply?: unknown } }).prototype?.apply === 'function',
      );
      return {
        parse: value as Parse,
        perLine: /line/i.test(exported),
        where: `${file}#${exported}`,
        ...(state ? { State: state[1] as Found['State'], stateName: state[0] } : {}),
      };
    }
  }
  return `parser not built yet: no exported parse…Events2 function in ${files.length} file(s) under dist/drivers/real/drbd/`;
}

export async function parserSuite(ctx: SuiteContext): Promise<void> {
  try {
    const found = await findParser();
    if (typeof found === 'string') {
      ctx.report(skipped(NAME, UNIT, found, PARSER_TARGET));
      return;
    }
    const lines = events2Lines(400, ctx.quick ? 20_000 : 50_000);
    const text = `${lines.join('\n')}\n`;
    const runOnce = (): number => {
      const started = performance.now();
      if (found.perLine) for (const line of lines) found.parse(line);
      else found.parse(text);
      return (lines.length * 1000) / (performance.now() - started);
    };
    runOnce(); // warm-up (JIT)
    const rates = Array.from({ length: ctx.quick ? 3 : 5 }, runOnce);
    const State = found.State;
    const withState = State && found.perLine
      ? (): number => {
          const state = new State();
          const started = performance.now();
          for (const line of lines) {
            const parsed = found.parse(line);
            if (parsed) state.apply(parsed);
          }
          return (lines.length * 1000) / (performance.now() - started);
        }
      : undefined;
    withState?.();
    ctx.report(
      figure({
        name: NAME,
        unit: UNIT,
        samples: rates,
        target: PARSER_TARGET,
        note: `${found.where}, ${found.perLine ? 'line by line' : 'whole text'}, ${lines.length.toLocaleString('en-US')} synthetic events2 lines (400 resources, 2 peers, then changes), in the bench process`,
      }),
    );
    if (withState) {
      ctx.report(
        figure({
          name: `${NAME}+state`,
          unit: UNIT,
          samples: Array.from({ length: ctx.quick ? 3 : 5 }, withState),
          target: PARSER_TARGET,
          note: `parse and ${found.stateName}.apply per line (the stream turned into resource state), same input`,
        }),
      );
    }
  } catch (error) {
    ctx.report(failed(NAME, UNIT, error, PARSER_TARGET));
  }
}
