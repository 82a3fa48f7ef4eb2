#!/usr/bin/env node
// The mtcall-peer command. Its code is compiled into dist/cli.js by `npm run build` (bash scripts/setup.sh); this file
// is committed and executable so npm links it at install time and a (cached) build never changes its mode.
await import('../dist/cli.js');
