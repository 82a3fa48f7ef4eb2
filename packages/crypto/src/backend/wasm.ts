/**
 * SHA-256 in WebAssembly (hash-wasm's hand-tuned binary) with @noble's AES-256-CTR: the fastest synchronous backend
 * where there is no `node:crypto` (browsers, workers). WebAssembly has to be compiled asynchronously once, so this
 * backend is loaded with `loadWasmBackend()` and then used synchronously; `preferredBackend()` gives it once loaded.
 * Byte-identical to the other backends (packet.test.ts runs the vectors on it).
 */

import { createSHA256, type IHasher } from 'hash-wasm';
import type { CryptoBackend } from './types.js';
import { nobleBackend } from './noble.js';

let loaded: CryptoBackend | undefined;
let loading: Promise<CryptoBackend> | undefined;

/** The backend over one hash-wasm SHA-256 instance (its own WebAssembly memory). */
function wasmBackend(hasher: IHasher): CryptoBackend {
  return {
    name: 'wasm',
    sha256(a, b) {
      hasher.init();
      hasher.update(a);
      if (b !== undefined) hasher.update(b);
      return hasher.digest('binary');
    },
    sha1: nobleBackend.sha1,
    aes256Ctr: nobleBackend.aes256Ctr,
    modPow: nobleBackend.modPow,
    isProbablePrime: nobleBackend.isProbablePrime,
  };
}

/**
 * Compiles the WebAssembly SHA-256 once and resolves with the backend (the same object on every call). Rejects
 * where WebAssembly is unavailable (e.g. a policy forbids it): keep using the default backend then.
 */
export function loadWasmBackend(): Promise<CryptoBackend> {
  loading ??= createSHA256().then((hasher) => (loaded = wasmBackend(hasher)));
  return loading;
}

/** The WebAssembly backend once `loadWasmBackend()` has resolved; undefined before. */
export function wasmBackendIfLoaded(): CryptoBackend | undefined {
  return loaded;
}
