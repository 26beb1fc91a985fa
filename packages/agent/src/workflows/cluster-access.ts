import type {
  Domain__Output,
  GetDomainResponse__Output,
  GetInfoResponse__Output,
  GetResourceResponse__Output,
  ListAnnouncementsResponse__Output,
  ListDomainsResponse__Output,
  ListResourcesResponse__Output,
  NodeInfo__Output,
  Resource__Output,
  Announcement__Output,
} from '@hvctl/proto';
import { HvctlError, createAgentClient, deadline, notFound, unary, type AgentClient, type ClusterFile } from '@hvctl/common';

/** Short deadline for reads made while planning or verifying. */
const READ_MS = 2000;

/**
 * How a coordinator reaches the other agents: the cluster membership plus one client
 * per agent, opened lazily and kept. Reads have short deadlines so a lost node answers
 * UNAVAILABLE quickly instead of stalling a workflow.
 */
export class ClusterAccess {
  private readonly clients = new Map<string, AgentClient>();

  constructor(
    readonly cluster: ClusterFile,
    readonly self: string,
    private readonly connect: (address: string) => AgentClient = (address) => createAgentClient(address),
  ) {}

  nodes(): readonly string[] {
    return this.cluster.nodes.map((node) => node.name);
  }

  siteOf(node: string): string {
    const entry = this.cluster.nodes.find((candidate) => candidate.name === node);
    if (!entry) throw notFound(`"${node}" is not a member of cluster ${this.cluster.name}`);
    return entry.site;
  }

  /** The witness: the first node of a backup site, if any. */
  witness(): string | undefined {
    const site = this.cluster.sites.find((candidate) => candidate.kind === 'backup')?.name;
    return this.cluster.nodes.find((node) => node.site === site)?.name;
  }

  client(node: string): AgentClient {
    let client = this.clients.get(node);
    if (!client) {
      const entry = this.cluster.nodes.find((candidate) => candidate.name === node);
      if (!entry) throw notFound(`"${node}" is not a member of cluster ${this.cluster.name}`);
      client = this.connect(entry.address);
      this.clients.set(node, client);
    }
    return client;
  }

  async info(node: string): Promise<NodeInfo__Output> {
    const client = this.client(node);
    const response = await unary<GetInfoResponse__Output>(`GetInfo on ${node}`, (cb) => client.node.getInfo({}, deadline(READ_MS), cb));
    if (!response.node) throw notFound(`${node} returned no node info`);
    return response.node;
  }

  /** True when the node's agent answers now. */
  async reachable(node: string): Promise<boolean> {
    try {
      await this.info(node);
      return true;
    } catch {
      return false;
    }
  }

  async resources(node: string): Promise<Resource__Output[]> {
    const client = this.client(node);
    return (await unary<ListResourcesResponse__Output>(`ListResources on ${node}`, (cb) => client.drbd.listResources({}, deadline(READ_MS), cb))).resources;
  }

  /** One resource, read alone (a workflow step re-reads the one it acts on, not all 80 of a hypervisor). */
  async resource(node: string, name: string): Promise<Resource__Output> {
    const client = this.client(node);
    const { resource } = await unary<GetResourceResponse__Output>(`GetResource ${name} on ${node}`, (cb) => client.drbd.getResource({ name }, deadline(READ_MS), cb));
    if (!resource) throw notFound(`resource ${name} is not configured on ${node}`);
    return resource;
  }

  async domains(node: string): Promise<Domain__Output[]> {
    const client = this.client(node);
    return (await unary<ListDomainsResponse__Output>(`ListDomains on ${node}`, (cb) => client.kvm.listDomains({}, deadline(READ_MS), cb))).domains;
  }

  /** One domain, read alone; undefined when the node has no domain of that name. */
  async domain(node: string, name: string): Promise<Domain__Output | undefined> {
    const client = this.client(node);
    try {
      return (await unary<GetDomainResponse__Output>(`GetDomain ${name} on ${node}`, (cb) => client.kvm.getDomain({ name }, deadline(READ_MS), cb))).domain ?? undefined;
    } catch (error) {
      if (error instanceof HvctlError && error.code === 'NOT_FOUND') return undefined;
      throw error;
    }
  }

  async announcements(node: string): Promise<Announcement__Output[]> {
    const client = this.client(node);
    return (await unary<ListAnnouncementsResponse__Output>(`ListAnnouncements on ${node}`, (cb) => client.routing.listAnnouncements({}, deadline(READ_MS), cb)))
      .announcements;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
