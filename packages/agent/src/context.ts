import type { Logger } from '@hvctl/common';
import type { Drivers } from './drivers/types.js';
import type { FlagStore } from './flags.js';
import type { EventHub } from './hub.js';
import type { RequestLedger } from './ledger.js';
import type { NodeIdentity, NodeInfoSource } from './node-info.js';

/** What every service needs: injected, never global. */
export interface AgentContext {
  readonly identity: NodeIdentity;
  readonly drivers: Drivers;
  readonly hub: EventHub;
  readonly ledger: RequestLedger;
  readonly flags: FlagStore;
  readonly nodeInfo: NodeInfoSource;
  readonly logger: Logger;
  /** Interval between watch heartbeats. */
  readonly heartbeatMs: number;
}
