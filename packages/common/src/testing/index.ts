export * from './fixtures.js';
export * from './agent-harness.js';
