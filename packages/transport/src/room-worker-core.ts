/**
 * The room encryption worker's policy, sans-IO (the room counterpart of worker-core.ts): one `RoomFrameCryptor` for
 * the member, epochs installed, switched to and retired as the main thread's `RoomKeyAgent` says, every producer's
 * frames sealed with the current epoch (dropped — never sent in the clear — before the first switch), every
 * consumer's frames opened under the sender the SFU named, key frames requested after undecryptable video frames
 * (at most once a second per stream), nothing after the end. `room-worker-host.ts` binds it to the worker globals.
 */

import { DestroyedError } from '@mtcall/crypto';
import { RoomFrameCryptor, type RoomFrameCryptorStats } from './room-frame-cryptor.js';
import { KeyFrameRequestPolicy } from './worker-core.js';
import type { MediaKind } from './frame-cryptor.js';

/** What a room transform is attached to. */
export interface RoomTransformOptions {
  side: 'send' | 'receive';
  kind: MediaKind;
  /** The sender's name for the stream ('audio', 'video', 'screen'): frames are bound to it. */
  source: string;
  /** Receive side: the member who sends this stream (as the server said). */
  sender?: number;
  /** Identifies the producer/consumer in stats and key-frame requests. */
  streamId: string;
  /** The stream's codec (MIME type from its RTP parameters), when frames do not say it themselves. */
  codec?: string;
}

export type RoomToWorker =
  | { type: 'room'; roomId: string; self: number }
  /** An epoch's group secret: its buffer is transferred. */
  | { type: 'install'; epoch: number; secret: Uint8Array }
  | { type: 'switch'; epoch: number }
  | { type: 'retire'; before: number }
  | { type: 'codecs'; payloadTypes: Record<number, string> }
  | { type: 'stream'; readable: ReadableStream; writable: WritableStream; options: RoomTransformOptions }
  | { type: 'stats'; requestId: number }
  | { type: 'end' };

/** Live counters of a member's room transforms. */
export interface RoomTransportStats extends RoomFrameCryptorStats {
  /** Frames dropped on the send side before the first epoch switch (nothing to seal with yet). */
  unsealedDrops: number;
  keyFrameRequests: number;
  sealMicros: number;
  openMicros: number;
  lastError?: string | undefined;
  /** The synchronous crypto backend of the member's cryptor ('wasm', 'noble', 'node'), once the room is known. */
  backend?: string | undefined;
}

export type RoomFromWorker =
  | { type: 'stats'; requestId: number; stats: RoomTransportStats }
  | { type: 'keyframe-request'; streamId: string }
  | { type: 'error'; message: string };

/** TEST ONLY extension points (the test room worker entry); the product entry passes none. */
export interface RoomWorkerHooks {
  sealed?(plain: Uint8Array, wire: Uint8Array, options: RoomTransformOptions): void;
  stats?(): Record<string, unknown>;
}

export class RoomWorkerCore {
  readonly #post: (message: RoomFromWorker) => void;
  readonly #now: () => number;
  readonly #hooks: RoomWorkerHooks;
  #cryptor: RoomFrameCryptor | undefined;
  #payloadTypes: Record<number, string> = {};
  #ended = false;
  readonly #extra = { unsealedDrops: 0, keyFrameRequests: 0, sealMicros: 0, openMicros: 0, lastError: undefined as string | undefined, backend: undefined as string | undefined };

  constructor(options: { post(message: RoomFromWorker): void; now(): number; hooks?: RoomWorkerHooks }) {
    this.#post = options.post;
    this.#now = options.now;
    this.#hooks = options.hooks ?? {};
  }

  get ended(): boolean {
    return this.#ended;
  }

  handle(message: RoomToWorker): void {
    if (this.#ended) {
      if (message.type === 'install') message.secret.fill(0);
      if (message.type === 'stats') this.#post({ type: 'stats', requestId: message.requestId, stats: this.stats() });
      return;
    }
    switch (message.type) {
      case 'room':
        this.#cryptor ??= new RoomFrameCryptor(message.roomId, message.self);
        this.#extra.backend = this.#cryptor.backendName;
        return;
      case 'install':
        this.#cryptor?.install(message.epoch, message.secret);
        message.secret.fill(0); // the transferred buffer; the cryptor keeps its own copy
        return;
      case 'switch':
        try {
          this.#cryptor?.switchTo(message.epoch);
        } catch (error) {
          this.#extra.lastError = (error as Error).message;
          this.#post({ type: 'error', message: this.#extra.lastError });
        }
        return;
      case 'retire':
        this.#cryptor?.retire(message.before);
        return;
      case 'codecs':
        this.#payloadTypes = message.payloadTypes;
        return;
      case 'stats':
        this.#post({ type: 'stats', requestId: message.requestId, stats: this.stats() });
        return;
      case 'end':
        this.#ended = true;
        this.#cryptor?.destroy();
        return;
      case 'stream':
        return;
    }
  }

  stats(): RoomTransportStats {
    const base: RoomFrameCryptorStats = this.#cryptor?.stats ?? {
      sealed: { frames: 0, bytes: 0 }, opened: { frames: 0, bytes: 0 }, openedBySender: {}, openedByEpoch: {},
      dropped: { auth: 0, replay: 0, malformed: 0, 'too-old': 0, 'wrong-stream': 0, 'clear-mismatch': 0, 'wrong-sender': 0, 'unknown-epoch': 0 },
      sendingEpoch: 0, epochs: [],
    };
    return { ...base, ...this.#extra, ...this.#hooks.stats?.() };
  }

  /** A frame's codec: its metadata's MIME type, else the stream's, else the payload-type map's. */
  codecOf(metadata: { mimeType?: string; payloadType?: number }, options: RoomTransformOptions): string | undefined {
    if (metadata.mimeType) return metadata.mimeType;
    if (options.codec) return options.codec;
    return metadata.payloadType !== undefined ? this.#payloadTypes[metadata.payloadType] : undefined;
  }

  /** The transform of one producer or consumer: bytes in, bytes to pass on (null: drop). Never rejects. */
  transform(options: RoomTransformOptions, requestKeyFrame: () => void): (data: Uint8Array, codec: string | undefined) => Promise<Uint8Array | null> {
    const keyFrames = new KeyFrameRequestPolicy();
    const stream = { kind: options.kind, source: options.source };
    return async (data, codec) => {
      const cryptor = this.#cryptor;
      if (this.#ended || !cryptor) return null;
      const started = this.#now();
      if (options.side === 'send') {
        if (cryptor.sendingEpoch === 0) {
          this.#extra.unsealedDrops++;
          return null;
        }
        let wire: Uint8Array;
        try {
          wire = await cryptor.encryptAsync(data, stream, codec);
        } catch (error) {
          if (!(error instanceof DestroyedError)) this.#extra.lastError = (error as Error).message;
          return null;
        }
        if (this.#ended) return null;
        this.#extra.sealMicros += (this.#now() - started) * 1000;
        this.#hooks.sealed?.(data, wire, options);
        return wire;
      }
      const result = await cryptor.decryptAsync(data, stream, options.sender ?? 0);
      if (this.#ended) return null;
      this.#extra.openMicros += (this.#now() - started) * 1000;
      if (result.ok) {
        keyFrames.opened();
        return result.frame;
      }
      this.#extra.lastError = `dropped ${options.kind} frame of member ${options.sender}: ${result.reason}`;
      if (options.kind === 'video' && keyFrames.dropped(this.#now())) {
        this.#extra.keyFrameRequests++;
        requestKeyFrame();
      }
      return null;
    };
  }
}
