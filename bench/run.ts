/**
 * hvctl's benchmark suite (issue #6): `npm run bench` (full, < 10 min) or
 * `npm run bench -- --quick` (reduced, < 1 min). Prints one line per figure,
 * `name value unit (target …) status — detail`, a summary and the scale table, writes
 * bench/results/latest.json, and exits 1 when a target is missed or a measurement failed.
 *
 * Options: --quick, --only fanin,agent,parser,workflows, --scales 10,50,100,
 * --profile (CPU profiles of the measured processes to bench/results/profiles),
 * --nice N (nice level of the measured processes: consoles, CLIs, load generators, the
 * agent under test; default -10 when run as root, else 0), --fleet-nice N (nice level of
 * the simulated fleet, default 0),
 * --console-node-env VALUE (NODE_ENV of the consoles and CLIs started, to measure a fix
 * such as NODE_ENV=production without changing the packages),
 * --console-dist DIR (the console build the fan-in probe loads instead of
 * packages/console/dist: a copy of an earlier build, for an A/B run in one session).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { buildBench } from './src/lib/build.js';
import type { SuiteContext } from './src/lib/context.js';
import { failed, summaryLine, type Figure } from './src/lib/figures.js';
import { REPO, cleanupAll, installSignalCleanup, setMeasuredNice, machineBusyPercent, machineCpu, sleep } from './src/lib/procs.js';
import { round } from './src/lib/stats.js';
import { agentSuite } from './src/suites/agent.js';
import { faninAt } from './src/suites/fanin.js';
import { parserSuite } from './src/suites/parser.js';
import { workflowSuite } from './src/suites/workflows.js';

const SUITES = ['fanin', 'agent', 'parser', 'workflows'] as const;
type SuiteName = (typeof SUITES)[number];

interface Options {
  readonly quick: boolean;
  readonly only: readonly SuiteName[];
  readonly scales: readonly number[];
  readonly profile: boolean;
  readonly fleetNice: number;
  /** nice(1) level of the measured processes (see procs.ts). */
  readonly nice: number;
  /** NODE_ENV for the consoles and CLIs the bench starts (unset = as a user runs them). */
  readonly consoleNodeEnv: string | undefined;
  /** Another build of packages/console/dist for the console probe (A/B runs). */
  readonly consoleDist: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const known = new Set(['--quick', '--only', '--scales', '--profile', '--fleet-nice', '--nice', '--console-node-env', '--console-dist']);
  for (const arg of argv) {
    if (arg.startsWith('--') && !known.has(arg)) {
      process.stderr.write(`bench: unknown option ${arg}\nusage: npm run bench -- [--quick] [--only ${SUITES.join(',')}] [--scales 10,50,100] [--profile] [--fleet-nice N]\n`);
      process.exit(2);
    }
  }
  const quick = argv.includes('--quick');
  const only = (value('--only')?.split(',') ?? [...SUITES]) as SuiteName[];
  for (const suite of only) {
    if (!SUITES.includes(suite)) {
      process.stderr.write(`bench: unknown suite "${suite}" (suites: ${SUITES.join(', ')})\n`);
      process.exit(2);
    }
  }
  const scales = (value('--scales') ?? (quick ? '10' : '10,50,100')).split(',').map(Number);
  if (scales.some((scale) => !Number.isInteger(scale) || scale < 2 || scale % 2 !== 0)) {
    process.stderr.write('bench: --scales takes even numbers of hypervisors, e.g. 10,50,100\n');
    process.exit(2);
  }
  return { quick, only, scales, profile: argv.includes('--profile'), fleetNice: Number(value('--fleet-nice') ?? 0), nice: Number(value('--nice') ?? (process.getuid?.() === 0 ? -10 : 0)), consoleNodeEnv: value('--console-node-env'), consoleDist: value('--console-dist') };
}

function machine(): Record<string, string> {
  const run = (command: string, args: string[]): string => {
    try {
      return execFileSync(command, args, { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  return {
    nproc: run('nproc', []),
    cpu: cpus()[0]?.model ?? '?',
    memory: `${round(totalmem() / 1024 ** 3)} GiB`,
    freeG: run('free', ['-g']),
    node: process.version,
    commit: run('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']),
    dirty: run('git', ['-C', REPO, 'status', '--porcelain', '--', 'packages']).split('\n').filter(Boolean).length.toString(),
  };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  installSignalCleanup();
  setMeasuredNice(options.nice);
  const started = performance.now();
  const log = (line: string): void => {
    process.stderr.write(`[${round((performance.now() - started) / 1000).padStart(6)} s] ${line}\n`);
  };
  const info = machine();
  log(`hvctl bench${options.quick ? ' --quick' : ''}: nproc ${info.nproc}, ${info.memory}, node ${info.node}, commit ${info.commit} (+${info.dirty} changed files under packages/)`);
  buildBench();
  // How busy the machine is before we start (other sessions may be building or testing).
  const idle0 = machineCpu();
  await sleep(1000);
  const backgroundPercent = machineBusyPercent(idle0, machineCpu());
  log(`machine busy before the run: ${round(backgroundPercent)}% of all cores; measured processes at nice ${options.nice}, simulated fleet at nice ${options.fleetNice}`);

  const resultsDir = join(REPO, 'bench', 'results');
  const profileDir = join(resultsDir, 'profiles');
  await mkdir(options.profile ? profileDir : resultsDir, { recursive: true });
  const workDir = await mkdtemp(join(tmpdir(), 'hvctl-bench-'));
  const figures: Figure[] = [];
  const ctx: SuiteContext = {
    quick: options.quick,
    workDir,
    profileDir,
    profile: options.profile,
    consoleEnv: options.consoleNodeEnv ? { NODE_ENV: options.consoleNodeEnv } : {},
    ...(options.consoleDist ? { consoleDist: resolve(options.consoleDist) } : {}),
    log,
    report: (fig) => {
      figures.push(fig);
      process.stdout.write(`${summaryLine(fig)}\n`);
    },
  };

  try {
    for (const suite of options.only) {
      const suiteStart = performance.now();
      try {
        if (suite === 'fanin') {
          for (const hypervisors of options.scales) {
            const largest = hypervisors === Math.max(...options.scales);
            await faninAt(ctx, {
              hypervisors,
              statusRuns: options.quick ? 1 : largest ? 5 : 3,
              frameRuns: options.quick ? 1 : 3,
              // Over 100 key presses (one per ~265 ms), so that their p99 is not simply the
              // slowest; two minutes at the largest scale, where the console's memory takes
              // that long to reach its plateau (docs/benchmarks.md, "Console memory over 3 minutes").
              streamMs: options.quick ? 4000 : largest ? 120_000 : 30_000,
              keyEveryMs: 250,
              fleetNice: options.fleetNice,
            });
          }
        } else if (suite === 'agent') await agentSuite(ctx);
        else if (suite === 'parser') await parserSuite(ctx);
        else if (suite === 'workflows') await workflowSuite(ctx);
      } catch (error) {
        ctx.report(failed(`${suite}.suite`, '', error));
      }
      log(`${suite} done in ${round((performance.now() - suiteStart) / 1000)} s`);
    }
  } finally {
    await cleanupAll();
    await rm(workDir, { recursive: true, force: true });
  }

  const totalS = (performance.now() - started) / 1000;
  const missed = figures.filter((fig) => fig.status === 'MISSED' || fig.status === 'error');
  process.stdout.write(`\n== summary (${round(totalS)} s${options.quick ? ', --quick' : ''}) ==\n`);
  for (const fig of figures) process.stdout.write(`${summaryLine(fig)}\n`);
  const table = scaleTable(figures);
  if (table) process.stdout.write(`\n== scale ==\n${table}\n`);
  process.stdout.write(`\n${missed.length ? `${missed.length} target(s) missed or failed: ${missed.map((fig) => fig.name).join(', ')}` : 'every target met'}\n`);

  const record = {
    at: new Date().toISOString(),
    command: `npm run bench --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: { ...info, backgroundBusyPercent: backgroundPercent },
    options,
    totalSeconds: totalS,
    figures: figures.map((fig) => ({ ...fig, samples: fig.samples && fig.samples.length > 500 ? undefined : fig.samples })),
  };
  await writeFile(join(resultsDir, 'latest.json'), `${JSON.stringify(record, null, 2)}\n`);
  await writeFile(join(resultsDir, `${options.quick ? 'quick' : 'full'}-${record.at.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(record, null, 2)}\n`);
  return missed.length ? 1 : 0;
}

/** Rows: the fan-in figure families; columns: the scales. */
function scaleTable(figures: readonly Figure[]): string {
  const scaled = figures.filter((fig) => fig.family && fig.scale !== undefined);
  if (!scaled.length) return '';
  const scales = [...new Set(scaled.map((fig) => fig.scale as number))].sort((a, b) => a - b);
  const families = [...new Set(scaled.map((fig) => fig.family as string))];
  const header = ['figure', ...scales.map((scale) => `${scale} hv`), 'target'];
  const rows = families.map((family) => {
    const byScale = scales.map((scale) => {
      const fig = scaled.find((candidate) => candidate.family === family && candidate.scale === scale);
      return fig ? `${round(fig.value)} ${fig.unit}${fig.status === 'MISSED' ? ' !' : fig.status === 'error' ? ' ?' : ''}` : '-';
    });
    const any = scaled.find((fig) => fig.family === family);
    return [family, ...byScale, any?.target ? `${any.target.op} ${any.target.limit} ${any.unit}` : ''];
  });
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => (row[column] ?? '').length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ')).join('\n');
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    await cleanupAll();
    process.exit(1);
  },
);
