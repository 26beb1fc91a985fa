import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import rawOptions from './loader-options.json' with { type: 'json' };
import type { ProtoGrpcType as AuditProto } from './generated/audit.js';
import type { ProtoGrpcType as AutopilotProto } from './generated/autopilot.js';
import type { ProtoGrpcType as BackupProto } from './generated/backup.js';
import type { ProtoGrpcType as DrbdProto } from './generated/drbd.js';
import type { ProtoGrpcType as EventsProto } from './generated/events.js';
import type { ProtoGrpcType as FaultsProto } from './generated/faults.js';
import type { ProtoGrpcType as KvmProto } from './generated/kvm.js';
import type { ProtoGrpcType as NodeProto } from './generated/node.js';
import type { ProtoGrpcType as RoutingProto } from './generated/routing.js';
import type { ProtoGrpcType as SecurityProto } from './generated/security.js';
import type { ProtoGrpcType as SlaProto } from './generated/sla.js';
import type { ProtoGrpcType as WorkflowsProto } from './generated/workflows.js';
import { installWorkflowSerializers } from './workflow-serializers.js';

/** Directory holding the .proto tree (`hvctl/v1/*.proto`, `hvctl/lab/v1/*.proto`). */
export const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'proto');

/** The public API's files, relative to PROTO_DIR. */
export const HVCTL_V1_FILES = [
  'hvctl/v1/node.proto',
  'hvctl/v1/drbd.proto',
  'hvctl/v1/kvm.proto',
  'hvctl/v1/routing.proto',
  'hvctl/v1/backup.proto',
  'hvctl/v1/events.proto',
  'hvctl/v1/workflows.proto',
  'hvctl/v1/sla.proto',
  'hvctl/v1/audit.proto',
  'hvctl/v1/security.proto',
  'hvctl/v1/autopilot.proto',
] as const;

/** The lab-only fault injection API, served by simulated agents only. */
export const LAB_FILES = ['hvctl/lab/v1/faults.proto'] as const;

/**
 * The one set of loader options, shared by codegen (scripts/generate.mjs reads the same
 * JSON) and runtime, so generated types always match the objects on the wire.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: rawOptions.keepCase,
  longs: rawOptions.longs === 'Number' ? Number : String,
  enums: rawOptions.enums === 'String' ? String : undefined,
  defaults: rawOptions.defaults,
  oneofs: rawOptions.oneofs,
  includeDirs: [PROTO_DIR],
};

/** Every hvctl.v1 service and message, typed. */
export type HvctlV1 = (NodeProto & DrbdProto & KvmProto & RoutingProto & BackupProto & EventsProto & WorkflowsProto & SlaProto & AuditProto & SecurityProto & AutopilotProto)['hvctl']['v1'];
/** The hvctl.lab.v1 package, typed. */
export type HvctlLabV1 = FaultsProto['hvctl']['lab']['v1'];

/** Fully-qualified names of the public services, for health and reflection. */
export const HVCTL_V1_SERVICES = [
  'hvctl.v1.NodeService',
  'hvctl.v1.DrbdService',
  'hvctl.v1.KvmService',
  'hvctl.v1.RoutingService',
  'hvctl.v1.BackupService',
  'hvctl.v1.EventsService',
  'hvctl.v1.WorkflowsService',
  'hvctl.v1.LeasesService',
  'hvctl.v1.AvailabilityService',
  'hvctl.v1.AuditService',
  'hvctl.v1.SecurityService',
  'hvctl.v1.AutopilotService',
] as const;

/** Fully-qualified name of the lab fault service. */
export const LAB_FAULTS_SERVICE = 'hvctl.lab.v1.FaultsService';

export interface LoadedProtos {
  /** The raw package definition of the public API (what reflection serves). */
  readonly definition: protoLoader.PackageDefinition;
  /** The raw package definition of the lab API. */
  readonly labDefinition: protoLoader.PackageDefinition;
  readonly v1: HvctlV1;
  readonly labV1: HvctlLabV1;
}

let cached: LoadedProtos | undefined;

/** Loads (once per process) the protos with LOADER_OPTIONS. */
export function loadProtos(): LoadedProtos {
  if (cached) return cached;
  const definition = protoLoader.loadSync([...HVCTL_V1_FILES], LOADER_OPTIONS);
  installWorkflowSerializers(definition);
  const labDefinition = protoLoader.loadSync([...LAB_FILES], LOADER_OPTIONS);
  const v1 = (grpc.loadPackageDefinition(definition) as unknown as { hvctl: { v1: HvctlV1 } }).hvctl.v1;
  const labV1 = (grpc.loadPackageDefinition(labDefinition) as unknown as { hvctl: { lab: { v1: HvctlLabV1 } } }).hvctl.lab.v1;
  cached = { definition, labDefinition, v1, labV1 };
  return cached;
}
