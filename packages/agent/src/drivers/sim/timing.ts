/** Rates and durations of the simulation; tests shrink them, the lab keeps the defaults. */
export interface SimTiming {
  /** Simulation step. */
  readonly tickMs: number;
  /** Writes of one running VM, replicated or counted as out-of-sync. */
  readonly writeBytesPerSecond: number;
  /** Resync speed after a reconnect. */
  readonly resyncBytesPerSecond: number;
  /** Live-migration copy speed (memory bytes per second). */
  readonly migrationBytesPerSecond: number;
  /** Backup upload speed. */
  readonly backupBytesPerSecond: number;
  /** How long a guest takes to shut down cleanly. */
  readonly shutdownMs: number;
  /** How long a guest takes to boot. */
  readonly bootMs: number;
}

export const DEFAULT_TIMING: SimTiming = {
  tickMs: 250,
  writeBytesPerSecond: 512 * 1024,
  resyncBytesPerSecond: 4 * 1024 * 1024,
  migrationBytesPerSecond: 2 * 1024 ** 3,
  backupBytesPerSecond: 512 * 1024 ** 2,
  shutdownMs: 1000,
  bootMs: 300,
};
