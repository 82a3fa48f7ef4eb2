/**
 * The encryption worker entry (`@mtcall/transport/worker`): one per call, hosting every sender and receiver
 * transform of it (worker-host.ts), with the policy of worker-core.ts and one crypto path, `FrameCryptor`.
 *
 * Frames from 2048 bytes up go through Web Crypto, smaller ones through the synchronous backend (SHA-256 in
 * WebAssembly, AES-CTR on @noble; docs/PERFORMANCE.md); the wire bytes are the same either way. No frame passes without the key and its stream's
 * mid; a frame that cannot be sealed is dropped, never sent in the clear; nothing passes after the end.
 */

import { serveEncryptionWorker, type WorkerScope } from './worker-host.js';

serveEncryptionWorker(globalThis as unknown as WorkerScope);
