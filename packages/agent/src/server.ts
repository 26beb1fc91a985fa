import * as grpc from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatusMap } from 'grpc-health-check';
import { HVCTL_V1_SERVICES, LAB_FAULTS_SERVICE, loadProtos } from '@hvctl/proto';
import { auditedService } from './audit/wrap.js';
import { addLazyReflection } from './lazy-reflection.js';
import type { AuditJournal } from './audit/journal.js';
import type { AgentContext } from './context.js';
import type { Area } from './drivers/types.js';
import { auditService } from './services/audit.js';
import { autopilotService } from './services/autopilot.js';
import type { Autopilot } from './autopilot/controller.js';
import { availabilityService } from './services/availability.js';
import type { Monitor } from './monitor/monitor.js';
import { backupService } from './services/backup.js';
import { drbdService } from './services/drbd.js';
import { eventsService } from './services/events.js';
import { faultsService, type FaultTarget } from './services/faults.js';
import { kvmService } from './services/kvm.js';
import { nodeService } from './services/node.js';
import { encodeOnce } from './services/response-cache.js';
import { leasesService } from './services/leases.js';
import { routingService } from './services/routing.js';
import { securityService, type RevocationTarget } from './services/security.js';
import { workflowsService } from './services/workflows.js';
import type { WorkflowEngine } from './workflows/engine.js';
import type { WorkflowJournal } from './workflows/journal.js';
import type { LeaseTable } from './workflows/leases.js';

export interface ServerDeps {
  readonly ctx: AgentContext;
  /** Only for simulated agents: the lab's fault injection. Never set in real mode. */
  readonly faults?: FaultTarget;
  /** The workflow engine, its leases and journal. */
  readonly workflows: { readonly engine: WorkflowEngine; readonly leases: LeaseTable; readonly journal: WorkflowJournal };
  /** The audit journal every mutating call is recorded in (audit/journal.ts). */
  readonly audit: AuditJournal;
  /** Authentication and authorisation of every call, health and reflection included (security/interceptor.ts). Required: no server without it. */
  readonly auth: grpc.ServerInterceptor;
  /** The cluster watcher, on the agent whose config enables `monitor:` (AvailabilityService refuses elsewhere). */
  readonly monitor?: Monitor;
  /** The autopilot, on the backup site's agent that runs the watcher (AutopilotService refuses elsewhere). */
  readonly autopilot?: Autopilot;
  /** Counts every call by method and status for the metrics endpoint (metrics/interceptor.ts); absent without `metrics:`. */
  readonly rpcMetrics?: grpc.ServerInterceptor;
  /** The CA and revocation list a TLS agent enforces (SecurityService installs pushed lists); absent with --insecure-lab. */
  readonly revocations?: RevocationTarget;
}

export interface AgentServer {
  readonly server: grpc.Server;
  readonly health: HealthImplementation;
  /** Sets each service's health from the driver probes (SERVING when its tool works). */
  updateHealth(): void;
}

/** Which driver area each service depends on; services without one are always SERVING. */
const SERVICE_AREA: Record<(typeof HVCTL_V1_SERVICES)[number], Area | undefined> = {
  'hvctl.v1.NodeService': undefined,
  'hvctl.v1.EventsService': undefined,
  'hvctl.v1.WorkflowsService': undefined,
  'hvctl.v1.LeasesService': undefined,
  'hvctl.v1.AuditService': undefined,
  'hvctl.v1.AvailabilityService': undefined,
  'hvctl.v1.SecurityService': undefined,
  'hvctl.v1.AutopilotService': undefined,
  'hvctl.v1.DrbdService': 'drbd',
  'hvctl.v1.KvmService': 'kvm',
  'hvctl.v1.RoutingService': 'routing',
  'hvctl.v1.BackupService': 'backup',
};

export const SERVER_OPTIONS: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 2_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
};

/**
 * Builds the agent's gRPC server, unbound: every hvctl.v1 service, standard health
 * (NOT_SERVING until updateHealth runs) and reflection limited to hvctl's own services.
 */
export function createServer(deps: ServerDeps): AgentServer {
  const { ctx } = deps;
  const { v1, labV1, definition } = loadProtos();
  const server = new grpc.Server({ ...SERVER_OPTIONS, interceptors: [...(deps.rpcMetrics ? [deps.rpcMetrics] : []), deps.auth] });
  // Every service goes through the audit journal: mutating calls are recorded before they act.
  // Frozen responses (services/response-cache.ts) are encoded once.
  const addService = (service: grpc.ServiceDefinition, handlers: grpc.UntypedServiceImplementation): void =>
    server.addService(encodeOnce(service), auditedService(deps.audit, ctx.logger, service, handlers, ctx.ledger));
  addService(v1.NodeService.service, nodeService(ctx));
  addService(v1.DrbdService.service, drbdService(ctx));
  addService(v1.KvmService.service, kvmService(ctx));
  addService(v1.RoutingService.service, routingService(ctx));
  addService(v1.BackupService.service, backupService(ctx));
  addService(v1.EventsService.service, eventsService(ctx));
  const { engine, leases, journal } = deps.workflows;
  addService(v1.WorkflowsService.service, workflowsService(ctx.logger, engine, ctx.ledger));
  addService(
    v1.LeasesService.service,
    leasesService(ctx.logger, leases, async (message, who) => {
      ctx.hub.log({ level: 'warn', area: 'workflow', message });
      await journal.appendOperator({ timeUnixMs: Date.now(), event: 'lease-broken', who, detail: message });
    }),
  );
  if (deps.faults) addService(labV1.FaultsService.service, faultsService(ctx.logger, deps.faults));
  addService(v1.AuditService.service, auditService(ctx.logger, deps.audit, ctx.identity.name));
  addService(v1.AvailabilityService.service, availabilityService(ctx.logger, ctx.identity.name, deps.monitor));
  addService(v1.SecurityService.service, securityService(ctx.logger, deps.revocations));
  addService(v1.AutopilotService.service, autopilotService(ctx.logger, ctx.identity.name, deps.autopilot, ctx.ledger));

  const initial: ServingStatusMap = { '': 'NOT_SERVING' };
  for (const service of HVCTL_V1_SERVICES) initial[service] = 'NOT_SERVING';
  const health = new HealthImplementation(initial);
  health.addToServer(server);

  addLazyReflection(server, definition, HVCTL_V1_SERVICES);

  return {
    server,
    health,
    updateHealth: () => {
      for (const service of HVCTL_V1_SERVICES) {
        const area = SERVICE_AREA[service];
        health.setStatus(service, area === undefined || ctx.nodeInfo.available(area) ? 'SERVING' : 'NOT_SERVING');
      }
      if (deps.faults) health.setStatus(LAB_FAULTS_SERVICE, 'SERVING');
      health.setStatus('', 'SERVING');
    },
  };
}

/** Binds a server; resolves with the port actually bound (useful with port 0). */
export function bindServer(server: grpc.Server, address: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}
