export * from './errors.js';
export * from './logger.js';
export * from './validation.js';
export * from './cluster-file.js';
export * from './client.js';
export * from './node-state.js';
export * from './cluster-model.js';
export * from './topology.js';
