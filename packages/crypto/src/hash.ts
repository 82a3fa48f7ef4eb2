/** The project's one hashing entry point. Every other package hashes through these. */

import { defaultBackend, type CryptoBackend } from './backend/index.js';
import { concatBytes } from './bytes.js';

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  return sha256With(defaultBackend, parts);
}

/** SHA-1 of the concatenation of `parts` (only the key fingerprint uses SHA-1, as the spec says). */
export function sha1(...parts: readonly Uint8Array[]): Uint8Array {
  return defaultBackend.sha1(parts.length === 1 ? parts[0]! : concatBytes(...parts));
}

/** SHA-256 of the concatenation of `parts` on a given backend. */
export function sha256With(backend: CryptoBackend, parts: readonly Uint8Array[]): Uint8Array {
  switch (parts.length) {
    case 0:
      return backend.sha256(new Uint8Array(0));
    case 1:
      return backend.sha256(parts[0]!);
    case 2:
      return backend.sha256(parts[0]!, parts[1]!);
    default:
      return backend.sha256(concatBytes(...parts));
  }
}
