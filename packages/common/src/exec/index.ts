export * from './call-context.js';
export * from './json.js';
export * from './lines.js';
export * from './runner.js';
export * from './tool-error.js';
