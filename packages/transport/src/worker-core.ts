/**
 * The encryption worker's policy, sans-IO: which frames may pass (none before the key and the stream's mid are
 * known, none after the end), what happens when sealing fails (seq exhausted: abort the call, once), when to ask
 * for a key frame (after `KEY_FRAME_AFTER_FAILURES` undecryptable video frames in a row, at most once per
 * `KEY_FRAME_INTERVAL_MS` per stream), and the stats. `worker-host.ts` binds it to the worker's globals and
 * streams; the tests drive it directly with a clock and a message sink.
 */

import { DestroyedError, SeqExhaustedError } from '@mtcall/crypto';
import { FrameCryptor, emptyFrameCryptorStats, type MediaStreamRef } from './frame-cryptor.js';
import type { FromWorker, ToWorker, TransformOptions, TransportStats } from './worker-protocol.js';

/** Consecutive undecryptable video frames after which a key frame is requested. */
export const KEY_FRAME_AFTER_FAILURES = 3;
/** At most one key-frame request per stream per this many ms. */
export const KEY_FRAME_INTERVAL_MS = 1000;

/**
 * TEST ONLY extension points, used by the test worker entry (`@mtcall/transport/testing/worker`); the product
 * worker passes none.
 */
export interface WorkerHooks {
  /** Makes the call's cryptor (e.g. with another key or a first seq near 2^30). */
  createCryptor?(key: Uint8Array, outgoing: boolean): FrameCryptor;
  /** Sees each sealed frame's plaintext and wire bytes before the wire bytes leave the worker. */
  sealed?(plain: Uint8Array, wire: Uint8Array, options: TransformOptions): void;
  /** Extra counters merged into the reported stats. */
  stats?(): Record<string, unknown>;
}

export interface WorkerCoreOptions {
  /** Sends a message to the main thread. */
  post(message: FromWorker): void;
  /** Milliseconds on a monotonic clock (performance.now in the worker). */
  now(): number;
  hooks?: WorkerHooks;
}

/** The key-frame request rule of one received video stream. */
export class KeyFrameRequestPolicy {
  #failures = 0;
  #last = -Infinity;

  /** A frame opened: the run of failures ends. */
  opened(): void {
    this.#failures = 0;
  }

  /** A frame was dropped at `now`: true when a key frame should be requested now. */
  dropped(now: number): boolean {
    if (++this.#failures < KEY_FRAME_AFTER_FAILURES || now - this.#last < KEY_FRAME_INTERVAL_MS) return false;
    this.#last = now;
    return true;
  }
}

/** One call's worker state: the cryptor, the streams' mids, the end. */
export class WorkerCore {
  readonly #post: (message: FromWorker) => void;
  readonly #now: () => number;
  readonly #hooks: WorkerHooks;
  #cryptor: FrameCryptor | undefined;
  #ended = false;
  #aborted = false;
  #payloadTypes: Record<number, string> = {};
  readonly #mids = new Map<string, string>();
  /** Resolved when the key arrives or the call ends; frames wait on it. */
  #keyWaiters: (() => void)[] = [];
  readonly #midWaiters = new Map<string, (() => void)[]>();
  readonly #extra = { keyFrameRequests: 0, sealMicros: 0, openMicros: 0, sealWaitMicros: 0, openWaitMicros: 0, lastError: undefined as string | undefined, backend: undefined as string | undefined };

  constructor(options: WorkerCoreOptions) {
    this.#post = options.post;
    this.#now = options.now;
    this.#hooks = options.hooks ?? {};
  }

  /** True once the call ended (`end`): every later frame is dropped. */
  get ended(): boolean {
    return this.#ended;
  }

  /** A message from the main thread. `stream` messages are the host's business (it calls `transform`). */
  handle(message: ToWorker): void {
    switch (message.type) {
      case 'key':
        if (this.#ended) {
          message.key.fill(0);
          return;
        }
        this.#cryptor?.destroy();
        this.#cryptor = this.#hooks.createCryptor?.(message.key, message.outgoing) ?? new FrameCryptor(message.key, message.outgoing ? 'caller' : 'callee');
        message.key.fill(0); // the transferred buffer; the cryptor holds its own copy
        this.#extra.backend = this.#cryptor.backendName;
        this.#wake(this.#keyWaiters);
        this.#keyWaiters = [];
        this.#post({ type: 'ready' });
        return;
      case 'codecs':
        this.#payloadTypes = message.payloadTypes;
        return;
      case 'mid':
        this.#setMid(message.streamId, message.mid);
        return;
      case 'stats':
        this.#post({ type: 'stats', requestId: message.requestId, stats: this.stats() });
        return;
      case 'end':
        this.#ended = true;
        this.#cryptor?.destroy();
        this.#wake(this.#keyWaiters);
        this.#keyWaiters = [];
        for (const waiters of this.#midWaiters.values()) this.#wake(waiters);
        this.#midWaiters.clear();
        return;
      case 'stream':
        return;
    }
  }

  /** The counters the worker reports. */
  stats(): TransportStats {
    return { ...(this.#cryptor?.stats ?? emptyFrameCryptorStats()), ...this.#extra, ...this.#hooks.stats?.() };
  }

  /** The codec of a frame: its metadata's MIME type, else the SDP's name for its payload type. */
  codecOf(metadata: { mimeType?: string; payloadType?: number }): string | undefined {
    if (metadata.mimeType) return metadata.mimeType;
    return metadata.payloadType !== undefined ? this.#payloadTypes[metadata.payloadType] : undefined;
  }

  /**
   * A transform for one sender or receiver. `requestKeyFrame` asks the sender for a key frame (the host's means:
   * `sendKeyFrameRequest`, or a message to the main thread).
   */
  transform(options: TransformOptions, requestKeyFrame: () => void): FrameTransform {
    if (options.mid) this.#setMid(options.streamId, options.mid);
    return new FrameTransform(this, options, requestKeyFrame);
  }

  // ---- for FrameTransform --------------------------------------------------------------------------------------

  /** The cryptor and the stream once both the key and the stream's mid are known; undefined when the call ended. */
  async ready(streamId: string, kind: TransformOptions['kind']): Promise<{ cryptor: FrameCryptor; stream: MediaStreamRef } | undefined> {
    if (!this.#cryptor && !this.#ended) await new Promise<void>((resolve) => this.#keyWaiters.push(resolve));
    if (!this.#mids.has(streamId) && !this.#ended) {
      await new Promise<void>((resolve) => {
        const waiters = this.#midWaiters.get(streamId) ?? [];
        waiters.push(resolve);
        this.#midWaiters.set(streamId, waiters);
      });
    }
    const mid = this.#mids.get(streamId);
    if (this.#ended || !this.#cryptor || mid === undefined) return undefined;
    return { cryptor: this.#cryptor, stream: { kind, mid } };
  }

  /** Sealing may go on (the call has not ended or been aborted). */
  get sealing(): boolean {
    return !this.#ended && !this.#aborted;
  }

  hooks(): WorkerHooks {
    return this.#hooks;
  }

  now(): number {
    return this.#now();
  }

  count(what: 'sealMicros' | 'openMicros' | 'sealWaitMicros' | 'openWaitMicros' | 'keyFrameRequests', amount: number): void {
    this.#extra[what] += amount;
  }

  sealFailed(error: unknown): void {
    if (error instanceof DestroyedError) return; // the call ended while a frame was being sealed: dropped, as it should be
    this.#extra.lastError = error instanceof Error ? error.message : String(error);
    if (error instanceof SeqExhaustedError) {
      if (this.#aborted) return;
      this.#aborted = true;
      this.#post({ type: 'error', message: this.#extra.lastError, fatal: true });
      this.#post({ type: 'abort', reason: 'seq-exhausted' });
      return;
    }
    this.#post({ type: 'error', message: this.#extra.lastError, fatal: false });
  }

  openFailed(message: string): void {
    this.#extra.lastError = message;
  }

  #setMid(streamId: string, mid: string): void {
    if (this.#mids.has(streamId)) return; // a transceiver's mid never changes
    this.#mids.set(streamId, mid);
    const waiters = this.#midWaiters.get(streamId);
    this.#midWaiters.delete(streamId);
    if (waiters) this.#wake(waiters);
  }

  #wake(waiters: readonly (() => void)[]): void {
    for (const wake of waiters) wake();
  }
}

/** The transform of one sender or receiver: frame bytes in, bytes to pass on (or null: drop) out. */
export class FrameTransform {
  readonly #core: WorkerCore;
  readonly #options: TransformOptions;
  readonly #requestKeyFrame: () => void;
  readonly #keyFrames = new KeyFrameRequestPolicy();

  constructor(core: WorkerCore, options: TransformOptions, requestKeyFrame: () => void) {
    this.#core = core;
    this.#options = options;
    this.#requestKeyFrame = requestKeyFrame;
  }

  /**
   * The bytes to pass on for a frame (sealed when sending, opened when receiving), or null to drop it. Waits for
   * the key and the stream's mid; never passes a frame in the clear, never passes one after the end (also when the
   * end arrives while the frame is being sealed or opened). Never rejects.
   */
  async process(data: Uint8Array, codec: string | undefined): Promise<Uint8Array | null> {
    const core = this.#core;
    const ready = await core.ready(this.#options.streamId, this.#options.kind);
    if (!ready) return null;
    const { cryptor, stream } = ready;
    const started = core.now();
    if (this.#options.side === 'send') {
      if (!core.sealing) return null;
      let wire: Uint8Array;
      let handedBack = started;
      try {
        const sealing = cryptor.encryptAsync(data, stream, codec);
        handedBack = core.now();
        wire = await sealing;
      } catch (error) {
        core.sealFailed(error);
        return null;
      }
      if (core.ended) return null; // re-checked after the await: nothing leaves after the end
      const done = core.now();
      core.count('sealMicros', (done - started) * 1000);
      core.count('sealWaitMicros', (done - handedBack) * 1000);
      core.hooks().sealed?.(data, wire, this.#options);
      return wire;
    }
    const opening = cryptor.decryptAsync(data, stream);
    const handedBack = core.now();
    const result = await opening;
    if (core.ended) return null;
    const done = core.now();
    core.count('openMicros', (done - started) * 1000);
    core.count('openWaitMicros', (done - handedBack) * 1000);
    if (result.ok) {
      this.#keyFrames.opened();
      return result.frame;
    }
    core.openFailed(`dropped ${stream.kind} frame: ${result.reason}`);
    if (stream.kind === 'video' && this.#keyFrames.dropped(core.now())) {
      core.count('keyFrameRequests', 1);
      this.#requestKeyFrame();
    }
    return null;
  }
}
