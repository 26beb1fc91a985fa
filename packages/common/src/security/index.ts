export * from './roles.js';
export * from './pem.js';
export * from './pki.js';
export * from './token.js';
export * from './revocation.js';
export * from './ca-dir.js';
export * from './client-identity.js';
export * from './cluster-connector.js';
