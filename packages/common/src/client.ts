import * as grpc from '@grpc/grpc-js';
import {
  loadProtos,
  type AuditServiceClient,
  type AutopilotServiceClient,
  type AvailabilityServiceClient,
  type BackupServiceClient,
  type DrbdServiceClient,
  type EventsServiceClient,
  type FaultsServiceClient,
  type KvmServiceClient,
  type LeasesServiceClient,
  type NodeServiceClient,
  type RoutingServiceClient,
  type SecurityServiceClient,
  type WorkflowsServiceClient,
} from '@hvctl/proto';
import { fromServiceError } from './errors.js';

/** Channel options every hvctl client uses: fast reconnects, keepalive to spot dead peers. */
export const CLIENT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 2_000,
  'grpc.keepalive_permit_without_calls': 1,
};

/** Default deadline of a unary call. */
export const DEFAULT_DEADLINE_MS = 5_000;

/** Typed clients for every service of one agent, sharing one channel. */
export interface AgentClient {
  readonly address: string;
  readonly node: NodeServiceClient;
  readonly drbd: DrbdServiceClient;
  readonly kvm: KvmServiceClient;
  readonly routing: RoutingServiceClient;
  readonly backup: BackupServiceClient;
  readonly events: EventsServiceClient;
  readonly workflows: WorkflowsServiceClient;
  readonly leases: LeasesServiceClient;
  /** The agent's audit journal (read and verify). */
  readonly audit: AuditServiceClient;
  /** The watcher's availability journal, SLA reports and alerts (backup-site agent). */
  readonly availability: AvailabilityServiceClient;
  /** The autopilot's status, explanations and controls (backup-site agent). */
  readonly autopilot: AutopilotServiceClient;
  /** The agent's revocation list (admin: push a newer signed list). */
  readonly security: SecurityServiceClient;
  /** Lab fault injection; only simulated agents serve it. */
  readonly faults: FaultsServiceClient;
  close(): void;
}

export interface AgentClientOptions {
  readonly credentials?: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
}

/** Opens (lazily; gRPC connects on first call) a client for the agent at `address`. */
export function createAgentClient(address: string, options: AgentClientOptions = {}): AgentClient {
  const { v1, labV1 } = loadProtos();
  const credentials = options.credentials ?? grpc.credentials.createInsecure();
  const channelOptions = { ...CLIENT_CHANNEL_OPTIONS, ...options.channelOptions };
  const node = new v1.NodeService(address, credentials, channelOptions);
  // Every other client shares the first one's channel.
  const channelOverride = node.getChannel();
  const shared = { ...channelOptions, channelOverride };
  return {
    address,
    node,
    drbd: new v1.DrbdService(address, credentials, shared),
    kvm: new v1.KvmService(address, credentials, shared),
    routing: new v1.RoutingService(address, credentials, shared),
    backup: new v1.BackupService(address, credentials, shared),
    events: new v1.EventsService(address, credentials, shared),
    workflows: new v1.WorkflowsService(address, credentials, shared),
    leases: new v1.LeasesService(address, credentials, shared),
    audit: new v1.AuditService(address, credentials, shared),
    availability: new v1.AvailabilityService(address, credentials, shared),
    autopilot: new v1.AutopilotService(address, credentials, shared),
    security: new v1.SecurityService(address, credentials, shared),
    faults: new labV1.FaultsService(address, credentials, shared),
    close: () => node.close(),
  };
}

/** Call options with a deadline `ms` from now. */
export function deadline(ms: number = DEFAULT_DEADLINE_MS): grpc.CallOptions {
  return { deadline: new Date(Date.now() + ms) };
}

type Callback<T> = (error: grpc.ServiceError | null, value?: T) => void;

/**
 * Promisifies one unary call: `await unary('GetInfo on msk-1', (cb) => client.node.getInfo({}, deadline(), cb))`.
 * Errors come back as HvctlError with the server's status and message.
 */
export function unary<T>(context: string, invoke: (callback: Callback<T>) => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    invoke((error, value) => {
      if (error) reject(fromServiceError(error, context));
      else if (value === undefined) reject(fromServiceError(new Error('empty response'), context));
      else resolve(value);
    });
  });
}

/** Collects a server stream into an array (for streams that end, like Migrate). */
export function collectStream<T>(context: string, stream: grpc.ClientReadableStream<T>, onMessage?: (message: T) => void): Promise<T[]> {
  return new Promise<T[]>((resolve, reject) => {
    const messages: T[] = [];
    stream.on('data', (message: T) => {
      messages.push(message);
      onMessage?.(message);
    });
    stream.on('error', (error) => reject(fromServiceError(error, context)));
    stream.on('end', () => resolve(messages));
  });
}
