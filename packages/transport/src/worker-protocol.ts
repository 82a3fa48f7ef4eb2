/** Messages between the main thread (`SecureCall`) and the encryption worker. */

import type { FrameCryptorStats, MediaKind } from './frame-cryptor.js';

/** What a transform is attached to. */
export interface TransformOptions {
  side: 'send' | 'receive';
  kind: MediaKind;
  /** Identifies the sender/receiver in stats and key-frame requests. */
  streamId: string;
}

export type ToWorker =
  | { type: 'key'; key: Uint8Array; outgoing: boolean; plaintextSamples?: boolean }
  | { type: 'codecs'; payloadTypes: Record<number, string> }
  | { type: 'stream'; readable: ReadableStream; writable: WritableStream; options: TransformOptions }
  | { type: 'stats'; requestId: number }
  | { type: 'end' };

/** Live counters of one call's transforms. */
export interface TransportStats extends FrameCryptorStats {
  /** Sealed frames whose wire bytes do not contain the plaintext's last (up to) 64 bytes: evidence encryption happened. */
  ciphertextDiffers: number;
  keyFrameRequests: number;
  lastError?: string | undefined;
  /** Microseconds spent sealing/opening, summed (the per-frame transform cost). */
  sealMicros: number;
  openMicros: number;
  /**
   * TEST ONLY (SecureCallOptions.exposePlaintextSamples): hex of 24 plaintext bytes from the middle of up to 16 sent
   * video frames, so a test can search a network capture for them. Absent otherwise.
   */
  plaintextSamples?: string[] | undefined;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'stats'; requestId: number; stats: TransportStats }
  | { type: 'keyframe-request'; streamId: string }
  | { type: 'error'; message: string; fatal: boolean };
