import type { Logger } from '@hvctl/common';
import type { AgentConfig } from '../../config.js';
import { bootSimWorld } from './boot.js';
import { SimHostServer } from './host-server.js';

/**
 * `hvctl-agent sim-host --config FILE`: runs the node's simulated host from the same
 * agent config (node, site, stateDir, sim). Its agent connects to `sim.host`.
 */
export async function runSimHost(config: AgentConfig, logger: Logger): Promise<SimHostServer> {
  const sim = config.sim;
  if (!sim?.host) throw new Error('a simulated host needs `sim.host` (its unix socket) in the config');
  const world = await bootSimWorld(config, sim, logger);
  const { host, linkPort } = await SimHostServer.start({ socketPath: sim.host, world, repositoryNode: sim.repositoryNode, logger: logger.child({ area: 'sim-host' }) });
  logger.info({ node: config.node, linkPort, socket: sim.host }, 'simulated host started');
  return host;
}
