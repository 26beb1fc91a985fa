import { connectAgent, createAgentClient, type AgentClient, type ClientIdentity, type ClusterFile } from '@hvctl/common';

/**
 * How this agent reaches the other agents of its cluster: with its own node certificate
 * (role `node`), the cluster CA pinned and each peer's certificate checked against the
 * node name the cluster file gives for the address. Plaintext only in --insecure-lab.
 * Built once in agent.ts and handed to everything that calls peers.
 */
export type PeerConnector = (address: string) => AgentClient;

export function peerConnector(cluster: ClusterFile, identity: ClientIdentity | undefined): PeerConnector {
  if (!identity) return (address) => createAgentClient(address);
  return (address) => {
    const node = cluster.nodes.find((entry) => entry.address === address)?.name;
    // An address outside the cluster file cannot be matched to a certificate name: the
    // handshake then fails on the name check rather than trusting any node certificate.
    return connectAgent(address, node ?? `unknown-node-at-${address.replace(/[^A-Za-z0-9.-]/g, '-')}`, identity);
  };
}
