import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { caPaths, clusterConnector, createAgentClient, initCaDir, issueInCaDir, parseClusterFile, type AgentClient } from '@hvctl/common';
import type { LabPlan } from './plan.js';
import { labClusterPath } from './state.js';

/** The console identity `lab up --tls` issues. */
export const LAB_ADMIN = 'lab-admin';

/**
 * `lab up --tls`: a CA in DIR/ca, a node certificate per lab agent and an admin
 * certificate for the console; every agent config gets `tls:` (so the agent serves
 * mutual TLS and ignores --insecure-lab) and the lab cluster file gets the console's
 * identity and the CA's revocation list (the console refuses revoked agents). Returns
 * the plan with those sections added.
 */
export async function secureLabPlan(dir: string, plan: LabPlan): Promise<LabPlan> {
  const caDir = join(dir, 'ca');
  await initCaDir(caDir, { cluster: 'lab', force: true });
  const revoked = caPaths(caDir).revoked;
  const nodes = [];
  for (const node of plan.nodes) {
    const issued = await issueInCaDir(caDir, { name: node.name, role: 'node', sans: ['127.0.0.1', 'localhost'] });
    nodes.push({ ...node, agentConfig: { ...node.agentConfig, tls: { ca: issued.caPath, cert: issued.certPath, key: issued.keyPath, revoked } } });
  }
  const admin = await issueInCaDir(caDir, { name: LAB_ADMIN, role: 'admin' });
  return { ...plan, nodes, cluster: { ...plan.cluster, tls: { ca: admin.caPath, cert: admin.certPath, key: admin.keyPath, revoked } } };
}

/** A client for one lab agent, with the lab cluster file's identity when the lab runs TLS. */
export function labClient(dir: string, node: { readonly name: string; readonly address: string }): AgentClient {
  const path = labClusterPath(dir);
  if (!existsSync(path)) return createAgentClient(node.address);
  const cluster = parseClusterFile(parse(readFileSync(path, 'utf8')), path);
  // The lab's own control calls use the lab's identity, whatever $HVCTL_* say.
  return clusterConnector(cluster, {})(node.address);
}
