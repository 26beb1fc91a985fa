/** Test fixtures other packages' tests use (`@hvctl/agent/testing`); never imported by product code. */
export { startTlsAgent, type TlsAgentFixture, type TlsAgentOptions } from '../security/testing/tls-agent.js';
