import { Command } from 'commander';
import { HvctlError, createLogger, validateAddress } from '@hvctl/common';
import { startAgent } from './agent.js';
import { DEFAULT_CONFIG_PATH, loadAgentConfig } from './config.js';
import { AGENT_VERSION } from './version.js';

const program = new Command('hvctl-agent')
  .description('The hvctl agent: serves DRBD, KVM, routing, backup and host facts of this node over gRPC (hvctl.v1).')
  .version(AGENT_VERSION)
  .option('-c, --config <file>', 'agent config file', DEFAULT_CONFIG_PATH)
  .option('-l, --listen <host:port>', 'override the gRPC listen address from the config')
  .addHelpText(
    'after',
    `
Examples:
  hvctl-agent --config /etc/hvctl/agent.yaml
  hvctl-agent --config ./lab/msk-1/agent.yaml --listen 127.0.0.1:7401

Stop it with SIGTERM or Ctrl-C: in-flight calls get 2 s to finish.`,
  )
  .action(async (options: { config: string; listen?: string }) => {
    const loaded = await loadAgentConfig(options.config);
    const config = options.listen ? { ...loaded, listen: validateAddress(options.listen, '--listen') } : loaded;
    const logger = createLogger({ name: 'hvctl-agent', level: config.log.level, ...(config.log.file ? { file: config.log.file } : {}), bindings: { node: config.node } });
    const agent = await startAgent(config, logger);
    console.error(`hvctl-agent ${config.node} (${config.site}) listening on ${config.listen.replace(/:\d+$/, `:${agent.port}`)} [simulated drivers: lab]`);
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      void agent.stop().then(() => {
        logger.flush();
        process.exit(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof HvctlError) {
    console.error(`hvctl-agent: ${error.describe()}`);
    process.exit(2);
  }
  console.error(`hvctl-agent: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
