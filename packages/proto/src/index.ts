export {
  HVCTL_V1_FILES,
  HVCTL_V1_SERVICES,
  LAB_FAULTS_SERVICE,
  LAB_FILES,
  LOADER_OPTIONS,
  PROTO_DIR,
  loadProtos,
} from './load.js';
export type { HvctlLabV1, HvctlV1, LoadedProtos } from './load.js';
export type * from './generated/types.js';
