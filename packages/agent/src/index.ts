export { AGENT_ONLY_RESTART_MARKER, startAgent, type RunningAgent } from './agent.js';
export { createServer, bindServer, type AgentServer, type ServerDeps } from './server.js';
export { loadAgentConfig, parseAgentConfig, DEFAULT_CONFIG_PATH, type AgentConfig, type SimConfig } from './config.js';
export type { SimNodeRecord, SimResourceRecord, SimDomainRecord, SimAnnouncementRecord } from './drivers/sim/records.js';
export type { SimPeer } from './drivers/sim/simnet.js';
export { seedPairedVm, type PairedVm } from './drivers/sim/seed.js';
export type { SimTiming } from './drivers/sim/timing.js';
export { DEFAULT_TIMING } from './drivers/sim/timing.js';
export { AGENT_VERSION } from './version.js';
