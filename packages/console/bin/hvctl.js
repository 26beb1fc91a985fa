#!/usr/bin/env node
// React's development build records every render for profiling and grows without bound
// in a long-running console; the shipped CLI runs the production build unless told otherwise.
process.env.NODE_ENV ??= 'production';
await import('../dist/main.js');
