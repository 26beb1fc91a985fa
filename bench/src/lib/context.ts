import type { Figure } from './figures.js';

/** What every suite gets from the runner. */
export interface SuiteContext {
  /** `--quick`: the reduced suite (under a minute). */
  readonly quick: boolean;
  /** Scratch directory of this run (removed at the end). */
  readonly workDir: string;
  /** Where CPU profiles go when `profile` is set (bench/results/profiles). */
  readonly profileDir: string;
  /** `--profile`: record .cpuprofile files of the measured processes during the measurements. */
  readonly profile: boolean;
  /** Extra environment of the consoles and `hvctl` CLIs the suites start (`--console-node-env`). */
  readonly consoleEnv: Record<string, string>;
  /** The console build the fan-in probe loads, when not packages/console/dist (`--console-dist`). */
  readonly consoleDist?: string;
  /** Progress for people (stderr). */
  log(line: string): void;
  /** Reports a figure as soon as it is known (printed at once, summarised at the end). */
  report(figure: Figure): void;
}
