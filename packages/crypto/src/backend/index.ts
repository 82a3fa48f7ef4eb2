/** Backend selection: `node:crypto` when the runtime has it, @noble everywhere else. */

import type * as NodeCrypto from 'node:crypto';
import type { CryptoBackend } from './types.js';
import { nobleBackend } from './noble.js';
import { createNodeBackend } from './node.js';
import { wasmBackendIfLoaded } from './wasm.js';

export type { CryptoBackend } from './types.js';
export { nobleBackend } from './noble.js';
export { createNodeBackend } from './node.js';
export { loadWasmBackend, wasmBackendIfLoaded } from './wasm.js';

/** `node:crypto`, loaded synchronously through `process.getBuiltinModule` (Node ≥ 20.16) when present; never a static import. */
function loadNodeCrypto(): typeof NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.('node:crypto') as typeof NodeCrypto | undefined;
  return mod && typeof mod.createCipheriv === 'function' ? mod : undefined;
}

/** The `node:crypto` module where the runtime has one (Node), loaded without a static import; `undefined` elsewhere. */
export function nodeCryptoModule(): typeof NodeCrypto | undefined {
  return loadNodeCrypto();
}

let nodeBackend: CryptoBackend | undefined;

/** The Node backend, or `undefined` outside Node. */
export function getNodeBackend(): CryptoBackend | undefined {
  if (nodeBackend) return nodeBackend;
  const crypto = loadNodeCrypto();
  if (crypto) nodeBackend = createNodeBackend(crypto);
  return nodeBackend;
}

/** All backends available in this runtime, fastest first. */
export function availableBackends(): CryptoBackend[] {
  const node = getNodeBackend();
  return node ? [node, nobleBackend] : [nobleBackend];
}

/**
 * The backend used when none is passed: Node's OpenSSL where present (measured 3–8x faster than
 * @noble, see docs/PERFORMANCE.md), @noble otherwise (browsers and workers, where Web Crypto is async only).
 */
export const defaultBackend: CryptoBackend = getNodeBackend() ?? nobleBackend;

/**
 * The fastest synchronous backend available now: Node's OpenSSL where present; else the WebAssembly SHA-256 backend
 * once `loadWasmBackend()` has resolved (1.5× faster than @noble at 160 B in a Chromium worker, docs/PERFORMANCE.md);
 * else @noble. Read it when you make a long-lived sealer or opener (the media path does).
 */
export function preferredBackend(): CryptoBackend {
  return getNodeBackend() ?? wasmBackendIfLoaded() ?? nobleBackend;
}
