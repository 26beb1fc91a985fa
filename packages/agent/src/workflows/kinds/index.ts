import type { WorkflowKind } from '../types.js';
import { migrateKind } from './migrate.js';

/** Every workflow kind the engine runs, by WorkflowSpec oneof name. */
export const WORKFLOW_KINDS: Readonly<Record<string, WorkflowKind<unknown>>> = {
  migrate: migrateKind as WorkflowKind<unknown>,
};
