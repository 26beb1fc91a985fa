/**
 * hvctl's seeded fault campaign (issue #14): `npm run chaos -- --seed N --rounds R`.
 * Starts its own lab, plays a schedule drawn from the seed (faults of `hvctl lab fault`,
 * operator workflows, CLIs killed mid-workflow), checks the invariants from outside after
 * every round and every recovery, prints a line per round and a summary, and stops the lab.
 *
 * Options: --seed N (default: random, printed), --rounds R (default 10), --minutes M
 * (stop starting rounds after M minutes), --faults a,b,c (default: every fault),
 * --vms N (default 12), --dir DIR (lab directory; default a new one under /tmp),
 * --json FILE (the whole record). Exit codes: 0 no violation, 1 violations found,
 * 2 invalid options, 3 the harness failed (the lab would not start), 130 interrupted.
 */
import { writeFile } from 'node:fs/promises';
import { FAULT_NAMES } from './src/catalogue.js';
import { HarnessError, runCampaign, type CampaignOptions } from './src/campaign.js';
import { summaryLines } from './src/report.js';

const USAGE = `usage: npm run chaos -- [--seed N] [--rounds R] [--minutes M] [--faults ${FAULT_NAMES.join(',')}] [--vms N] [--dir DIR] [--json FILE]`;

function usage(message: string): never {
  process.stderr.write(`chaos: ${message}\n${USAGE}\n`);
  process.exit(2);
}

interface Options extends Omit<CampaignOptions, 'out' | 'signal'> {
  readonly json: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] ?? '';
    const value = argv[i + 1];
    if (!['--seed', '--rounds', '--minutes', '--faults', '--vms', '--dir', '--json'].includes(flag)) usage(`unknown option ${flag}`);
    if (value === undefined || value.startsWith('--')) usage(`${flag} needs a value`);
    values.set(flag, value);
  }
  const integer = (flag: string, fallback: number, min: number, max: number): number => {
    const raw = values.get(flag);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) usage(`${flag} takes an integer from ${min} to ${max}, got "${raw}"`);
    return value;
  };
  const faults = values.get('--faults')?.split(',').filter(Boolean) ?? FAULT_NAMES;
  const unknown = faults.filter((name) => !FAULT_NAMES.includes(name));
  if (unknown.length) usage(`unknown fault ${unknown.join(', ')}`);
  const minutes = values.has('--minutes') ? Number(values.get('--minutes')) : undefined;
  if (minutes !== undefined && !(minutes > 0)) usage('--minutes takes a positive number');
  return {
    seed: integer('--seed', Math.floor(Math.random() * 1_000_000), 0, 0xffffffff),
    rounds: integer('--rounds', minutes !== undefined && !values.has('--rounds') ? 1_000_000 : 10, 1, 1_000_000),
    ...(minutes !== undefined ? { minutes } : {}),
    faults,
    vms: integer('--vms', 12, 1, 200),
    ...(values.has('--dir') ? { dir: values.get('--dir') } : {}),
    json: values.get('--json'),
  };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const interrupt = new AbortController();
  const onSignal = (): void => {
    process.stderr.write('chaos: interrupted; finishing the current step and stopping the lab (again to quit at once)\n');
    interrupt.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await runCampaign({ ...options, out: (line) => console.log(line), signal: interrupt.signal });
    for (const line of summaryLines(result)) console.log(line);
    if (options.json) await writeFile(options.json, `${JSON.stringify(result, null, 2)}\n`);
    if (interrupt.signal.aborted) return 130;
    return result.violations.length ? 1 : 0;
  } catch (error) {
    process.stderr.write(`chaos: harness error: ${error instanceof HarnessError ? error.message : (error as Error).stack}\n`);
    return 3;
  }
}

process.exitCode = await main();
