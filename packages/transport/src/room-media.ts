/**
 * `RoomMediaEncryption`: the main-thread half of a room member's frame encryption. It hands the room worker the
 * epochs (`install` transfers the group secret: no copy stays here), the switches and retirements the
 * `RoomKeyAgent` decides, and attaches a transform to every RTCRtpSender (producer) and RTCRtpReceiver (consumer) —
 * with mediasoup-client, from `produce({ onRtpSender })` and `consume({ onRtpReceiver })`, before any frame flows.
 *
 * Chromium: create the transports with `additionalSettings: { encodedInsertableStreams: true }` when the mode is
 * `encoded-streams`; elsewhere `RTCRtpScriptTransform` is used.
 */

import { Emitter } from '@mtcall/common';
import { detectTransformMode, EncodedTransformUnsupportedError, type TransformMode } from './secure-call.js';
import type { RoomFromWorker, RoomToWorker, RoomTransformOptions, RoomTransportStats } from './room-worker-core.js';

export interface RoomMediaEncryptionOptions {
  /** A module worker running `@mtcall/transport/room-worker`; terminated by `end()`. */
  worker: Worker;
  roomId: string;
  /** This member's number (its sender id). */
  self: number;
  mode?: TransformMode;
}

export interface RoomMediaEncryptionEvents extends Record<string, unknown> {
  /** A consumer's video does not open: ask the SFU for a key frame (`requestKeyFrame`). */
  'keyframe-request': { streamId: string };
  error: { message: string };
}

/** Extra RTCPeerConnection settings a transport needs for this mode. */
export function roomTransportSettings(mode: TransformMode | null = detectTransformMode()): Record<string, unknown> {
  return mode === 'encoded-streams' ? { encodedInsertableStreams: true } : {};
}

export class RoomMediaEncryption extends Emitter<RoomMediaEncryptionEvents> {
  readonly mode: TransformMode;
  readonly #worker: Worker;
  readonly #pending = new Map<number, (stats: RoomTransportStats) => void>();
  #nextRequest = 1;
  #ended = false;
  #last: RoomTransportStats | undefined;

  constructor(options: RoomMediaEncryptionOptions) {
    super();
    const mode = options.mode ?? detectTransformMode();
    if (!mode) throw new EncodedTransformUnsupportedError();
    this.mode = mode;
    this.#worker = options.worker;
    this.#worker.onmessage = (event: MessageEvent<RoomFromWorker>) => this.#onMessage(event.data);
    this.#post({ type: 'room', roomId: options.roomId, self: options.self });
  }

  /** The media may open frames of `epoch`. A copy of `secret` is transferred to the worker. */
  install(epoch: number, secret: Uint8Array): void {
    const copy = new Uint8Array(secret);
    this.#post({ type: 'install', epoch, secret: copy }, [copy.buffer]);
  }

  switchTo(epoch: number): void {
    this.#post({ type: 'switch', epoch });
  }

  retire(before: number): void {
    this.#post({ type: 'retire', before });
  }

  /** Seals this sender's frames (a producer's). Call before any frame flows (mediasoup-client's `onRtpSender`). */
  attachSender(sender: RTCRtpSender, options: Omit<RoomTransformOptions, 'side' | 'sender'>): void {
    this.#attach(sender, { ...options, side: 'send' });
  }

  /** Opens a consumer's frames as `sender`'s (mediasoup-client's `onRtpReceiver`). */
  attachReceiver(receiver: RTCRtpReceiver, options: Omit<RoomTransformOptions, 'side'> & { sender: number }): void {
    this.#attach(receiver, { ...options, side: 'receive' });
  }

  /** Live counters (the last ones once ended). */
  stats(): Promise<RoomTransportStats> {
    if (this.#ended) return Promise.resolve(this.#last ?? emptyStats());
    return new Promise((resolve) => {
      const requestId = this.#nextRequest++;
      this.#pending.set(requestId, resolve);
      this.#post({ type: 'stats', requestId });
    });
  }

  /** Wipes every key in the worker and stops it (after a last stats read). */
  async end(): Promise<RoomTransportStats> {
    if (this.#ended) return this.#last ?? emptyStats();
    const last = await Promise.race([this.stats(), new Promise<RoomTransportStats>((resolve) => setTimeout(() => resolve(this.#last ?? emptyStats()), 1000))]);
    this.#post({ type: 'end' });
    this.#ended = true;
    this.#last = last;
    this.#worker.terminate();
    for (const resolve of this.#pending.values()) resolve(last);
    this.#pending.clear();
    return last;
  }

  #attach(target: RTCRtpSender | RTCRtpReceiver, options: RoomTransformOptions): void {
    if (this.#ended) return;
    const g = globalThis as unknown as { RTCRtpScriptTransform?: new (worker: Worker, options: unknown) => unknown };
    if (this.mode === 'script-transform' && g.RTCRtpScriptTransform) {
      (target as unknown as { transform: unknown }).transform = new g.RTCRtpScriptTransform(this.#worker, options);
      return;
    }
    const streams = (target as unknown as { createEncodedStreams(): { readable: ReadableStream; writable: WritableStream } }).createEncodedStreams();
    this.#post({ type: 'stream', readable: streams.readable, writable: streams.writable, options }, [streams.readable as unknown as Transferable, streams.writable as unknown as Transferable]);
  }

  #post(message: RoomToWorker, transfer: Transferable[] = []): void {
    if (!this.#ended) this.#worker.postMessage(message, transfer);
  }

  #onMessage(message: RoomFromWorker): void {
    switch (message.type) {
      case 'stats': {
        this.#last = message.stats;
        const resolve = this.#pending.get(message.requestId);
        this.#pending.delete(message.requestId);
        resolve?.(message.stats);
        return;
      }
      case 'keyframe-request':
        this.emit('keyframe-request', { streamId: message.streamId });
        return;
      case 'error':
        this.emit('error', { message: message.message });
        return;
    }
  }
}

function emptyStats(): RoomTransportStats {
  return {
    sealed: { frames: 0, bytes: 0 }, opened: { frames: 0, bytes: 0 }, openedBySender: {}, openedByEpoch: {},
    dropped: { auth: 0, replay: 0, malformed: 0, 'too-old': 0, 'wrong-stream': 0, 'clear-mismatch': 0, 'wrong-sender': 0, 'unknown-epoch': 0 },
    sendingEpoch: 0, epochs: [], unsealedDrops: 0, keyFrameRequests: 0, sealMicros: 0, openMicros: 0,
  };
}
