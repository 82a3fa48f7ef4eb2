/** Messages between the main thread (`SecureCall`) and the encryption worker. */

import type { FrameCryptorStats, MediaKind } from './frame-cryptor.js';

/** What a transform is attached to. */
export interface TransformOptions {
  side: 'send' | 'receive';
  kind: MediaKind;
  /** Identifies the sender/receiver in stats, key-frame requests and `mid` messages. */
  streamId: string;
  /** The transceiver's mid when known at attach time; otherwise a `mid` message follows once it is negotiated. */
  mid?: string | undefined;
}

/** Why the worker aborts the call (the main thread must end it with this reason). */
export type WorkerAbortReason = 'seq-exhausted';

export type ToWorker =
  /** The call key: its buffer is transferred, so no copy stays on the main thread. */
  | { type: 'key'; key: Uint8Array; outgoing: boolean }
  | { type: 'codecs'; payloadTypes: Record<number, string> }
  | { type: 'stream'; readable: ReadableStream; writable: WritableStream; options: TransformOptions }
  /** A transform's mid, once negotiated: its frames wait for it (they are sealed bound to it). */
  | { type: 'mid'; streamId: string; mid: string }
  | { type: 'stats'; requestId: number }
  | { type: 'end' };

/** Live counters of one call's transforms. */
export interface TransportStats extends FrameCryptorStats {
  keyFrameRequests: number;
  lastError?: string | undefined;
  /** Microseconds spent sealing/opening, summed (the per-frame transform cost). */
  sealMicros: number;
  openMicros: number;
  /**
   * The part of sealMicros/openMicros after the crypto call handed back its promise: waiting on awaits (Web Crypto
   * round trips, and whatever else the worker ran meanwhile). The rest is work done at once on the worker's thread.
   */
  sealWaitMicros: number;
  openWaitMicros: number;
  /** The synchronous crypto backend of the call's cryptor ('wasm', 'noble', 'node'), once the key arrived. */
  backend?: string | undefined;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'stats'; requestId: number; stats: TransportStats }
  | { type: 'keyframe-request'; streamId: string }
  | { type: 'error'; message: string; fatal: boolean }
  /** The call must end now, with this reason (sent once; later frames are dropped). */
  | { type: 'abort'; reason: WorkerAbortReason };
