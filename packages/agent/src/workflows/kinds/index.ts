import type { WorkflowKind } from '../types.js';
import { backupKind } from './backup.js';
import { drainKind } from './drain.js';
import { failbackKind } from './failback.js';
import { failoverKind } from './failover.js';
import { migrateKind } from './migrate.js';
import { startKind } from './start.js';
import { stopKind } from './stop.js';
import { undrainKind } from './undrain.js';

/** Every workflow kind the engine runs, by WorkflowSpec oneof name. */
export const WORKFLOW_KINDS: Readonly<Record<string, WorkflowKind<unknown>>> = {
  migrate: migrateKind as WorkflowKind<unknown>,
  drain: drainKind as WorkflowKind<unknown>,
  undrain: undrainKind as WorkflowKind<unknown>,
  failover: failoverKind as WorkflowKind<unknown>,
  failback: failbackKind as WorkflowKind<unknown>,
  backup: backupKind as WorkflowKind<unknown>,
  start: startKind as WorkflowKind<unknown>,
  stop: stopKind as WorkflowKind<unknown>,
};
