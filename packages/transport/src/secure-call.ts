/**
 * `PeerConnectionEncryption`: attaches mtcall's frame encryption to an `RTCPeerConnection` — every sender and receiver,
 * including those added later — and exposes live stats. The main-thread half; the worker does the crypto.
 *
 *   const media = new PeerConnectionEncryption({ pc, key, role: 'caller', worker: new Worker(workerUrl, { type: 'module' }) });
 *
 * Chromium: create the peer connection with `{ encodedInsertableStreams: true }` when using
 * `createEncodedStreams` (`PeerConnectionEncryption.peerConnectionConfig()` adds it when that is the mode).
 */

import { Emitter, type CallRole } from '@mtcall/common';
import { emptyFrameCryptorStats, type MediaKind } from './frame-cryptor.js';
import type { FromWorker, ToWorker, TransformOptions, TransportStats, WorkerAbortReason } from './worker-protocol.js';

/** Codecs whose packetizer needs payload structure that sealed frames do not keep (see codecs.ts). */
const UNSUPPORTED_CODECS = new Set(['audio/red', 'video/av1']);

/**
 * Firefox (ESR 153 here): after setCodecPreferences removes a codec, its offers and answers keep the a=rtcp-fb
 * lines of the removed payload types, which Chromium refuses ("Failed to parse codecs correctly"). There we leave
 * preferences alone: Firefox offers no RED and lists AV1 after VP8/VP9, and a Chromium peer restricts its side.
 */
const CODEC_PREFERENCES_EMIT_BAD_SDP = typeof navigator !== 'undefined' && /\bFirefox\/\d+/.test(navigator.userAgent);

/** Which browser API carries the frames to the worker. */
export type TransformMode = 'script-transform' | 'encoded-streams';

/** Thrown when the browser has neither encoded-transform API. */
export class EncodedTransformUnsupportedError extends Error {
  constructor() {
    super('this browser supports neither RTCRtpScriptTransform nor RTCRtpSender.createEncodedStreams: end-to-end media encryption is impossible here');
    this.name = 'EncodedTransformUnsupportedError';
  }
}

/**
 * The mode to use here: Chromium has both and gets `createEncodedStreams` by default (issue #4's preference;
 * pass `prefer: 'script-transform'` to override); everything else gets `RTCRtpScriptTransform`. `null` when neither exists.
 */
export function detectTransformMode(prefer?: TransformMode): TransformMode | null {
  const g = globalThis as { RTCRtpScriptTransform?: unknown; RTCRtpSender?: { prototype: object } };
  const script = typeof g.RTCRtpScriptTransform === 'function';
  const streams = !!g.RTCRtpSender && 'createEncodedStreams' in g.RTCRtpSender.prototype;
  if (prefer === 'script-transform' && script) return 'script-transform';
  if (prefer === 'encoded-streams' && streams) return 'encoded-streams';
  if (streams) return 'encoded-streams';
  if (script) return 'script-transform';
  return null;
}

export interface PeerConnectionEncryptionOptions {
  pc: RTCPeerConnection;
  /**
   * The 256-byte call key. A copy is transferred to the worker (its buffer moves, so no copy stays on this thread);
   * `options.key` itself stays yours: wipe it when the call ends.
   */
  key: Uint8Array;
  /** This side of the call: the caller seals with x = 0, the callee with x = 8. */
  role: CallRole;
  /** A module worker running `@mtcall/transport/worker`. `PeerConnectionEncryption` terminates it at `end()`. */
  worker: Worker;
  /** Force an API (default: `detectTransformMode()`). */
  mode?: TransformMode;
  /**
   * Restrict the codecs of each transceiver when first seen (default true; not in Firefox, see
   * CODEC_PREFERENCES_EMIT_BAD_SDP): no audio/red (RED packs several frames into one payload, which frame
   * encryption cannot see into) and no AV1 (its packetizer parses OBUs, which sealed frames do not keep; see
   * codecs.ts). Set your own preferences after `attach()`.
   */
  restrictCodecs?: boolean;
}

export interface PeerConnectionEncryptionEvents extends Record<string, unknown> {
  /** The worker reported a problem; `fatal` (seq exhausted) means the call must end (an `abort` follows). */
  error: { message: string; fatal: boolean };
  /**
   * The call must end now with `reason` (the spec's abort when the seq counter reaches 2^30): hang up the signaling
   * call with it, e.g. `call.hangUp(reason)`, so the peer learns why. Later frames are dropped. Emitted once.
   */
  abort: { reason: WorkerAbortReason };
}

type Endpoint = (RTCRtpSender | RTCRtpReceiver) & {
  transform?: unknown;
  createEncodedStreams?: () => { readable: ReadableStream; writable: WritableStream };
};

/** All-zero counters (a call whose worker never reported). */
function noStats(): TransportStats {
  return { ...emptyFrameCryptorStats(), keyFrameRequests: 0, sealMicros: 0, openMicros: 0, sealWaitMicros: 0, openWaitMicros: 0 };
}

/** Frame encryption of one call on one peer connection. */
export class PeerConnectionEncryption extends Emitter<PeerConnectionEncryptionEvents> {
  readonly mode: TransformMode;
  readonly #pc: RTCPeerConnection;
  readonly #worker: Worker;
  readonly #attached = new WeakSet<object>();
  /** Attached endpoints whose transceiver had no mid yet: their mid is posted once negotiated. */
  readonly #awaitingMid = new Map<RTCRtpTransceiver, string[]>();
  readonly #pending = new Map<number, (stats: TransportStats) => void>();
  readonly #restrictCodecs: boolean;
  readonly #restricted = new WeakSet<RTCRtpTransceiver>();
  #nextRequest = 1;
  #nextStream = 1;
  #ended = false;
  #aborted = false;
  #final: TransportStats | undefined;
  readonly #listeners: [string, () => void][] = [];

  /** The `RTCConfiguration` additions the chosen mode needs (Chromium's encodedInsertableStreams). */
  static peerConnectionConfig(mode: TransformMode | null = detectTransformMode()): Record<string, unknown> {
    return mode === 'encoded-streams' ? { encodedInsertableStreams: true } : {};
  }

  constructor(options: PeerConnectionEncryptionOptions) {
    super();
    const mode = options.mode ?? detectTransformMode();
    if (!mode) throw new EncodedTransformUnsupportedError();
    this.mode = mode;
    this.#pc = options.pc;
    this.#worker = options.worker;
    this.#restrictCodecs = options.restrictCodecs ?? true;
    this.#worker.addEventListener('message', (event: MessageEvent<FromWorker>) => this.#onWorker(event.data));
    // The key goes first: the worker handles messages in order, and transforms wait for it anyway. Its copy's buffer
    // is transferred (detached here), and wiped in case a worker implementation copies instead.
    const key = new Uint8Array(options.key);
    this.#post({ type: 'key', key, outgoing: options.role === 'caller' }, [key.buffer]);
    if (key.byteLength > 0) key.fill(0); // a detached view has no bytes left (and refuses fill)
    const rescan = () => this.attach();
    for (const event of ['negotiationneeded', 'track', 'signalingstatechange']) {
      this.#pc.addEventListener(event, rescan);
      this.#listeners.push([event, rescan]);
    }
    this.attach();
  }

  /**
   * Attaches transforms to every sender and receiver not yet attached (and restricts new transceivers' codecs).
   * Runs by itself on negotiationneeded, track and signalingstatechange; call it right after `addTransceiver`
   * when you then set codec preferences of your own.
   */
  attach(): void {
    if (this.#ended) return;
    for (const transceiver of this.#pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind as MediaKind;
      if (this.#restrictCodecs && !CODEC_PREFERENCES_EMIT_BAD_SDP && !this.#restricted.has(transceiver)) {
        this.#restricted.add(transceiver);
        this.#restrict(transceiver, kind);
      }
      this.#attach(transceiver, transceiver.sender as Endpoint, 'send', kind);
      this.#attach(transceiver, transceiver.receiver as Endpoint, 'receive', kind);
      this.#sendMid(transceiver);
    }
    this.#sendCodecs();
  }

  #attach(transceiver: RTCRtpTransceiver, endpoint: Endpoint, side: TransformOptions['side'], kind: MediaKind): void {
    if (this.#attached.has(endpoint)) return;
    this.#attached.add(endpoint);
    const streamId = `${side}-${kind}-${this.#nextStream++}`;
    // Frames are bound to the transceiver's mid; until it is negotiated the worker holds the stream's frames.
    const mid = transceiver.mid ?? undefined;
    if (mid === undefined) this.#awaitingMid.set(transceiver, [...(this.#awaitingMid.get(transceiver) ?? []), streamId]);
    const options: TransformOptions = { side, kind, streamId, ...(mid !== undefined ? { mid } : {}) };
    if (this.mode === 'script-transform') {
      const Transform = (globalThis as unknown as { RTCRtpScriptTransform: new (worker: Worker, options: unknown) => unknown }).RTCRtpScriptTransform;
      (endpoint as { transform?: unknown }).transform = new Transform(this.#worker, options);
    } else {
      const { readable, writable } = endpoint.createEncodedStreams!();
      this.#post({ type: 'stream', readable, writable, options }, [readable as unknown as Transferable, writable as unknown as Transferable]);
    }
  }

  /** Posts the mid of a transceiver whose transforms were attached before it had one, once it has. */
  #sendMid(transceiver: RTCRtpTransceiver): void {
    const streamIds = this.#awaitingMid.get(transceiver);
    if (!streamIds || transceiver.mid === null) return;
    this.#awaitingMid.delete(transceiver);
    for (const streamId of streamIds) this.#post({ type: 'mid', streamId, mid: transceiver.mid });
  }

  #restrict(transceiver: RTCRtpTransceiver, kind: MediaKind): void {
    const codecs = PeerConnectionEncryption.allowedCodecs(kind);
    if (!codecs || typeof transceiver.setCodecPreferences !== 'function') return;
    try {
      transceiver.setCodecPreferences(codecs);
    } catch {
      // A stopped transceiver refuses; nothing to do.
    }
  }

  /** The receive codecs of this browser that frame encryption supports (no audio/red, no video/AV1). */
  static allowedCodecs(kind: MediaKind): RTCRtpCodec[] | undefined {
    const capabilities = (globalThis as { RTCRtpReceiver?: typeof RTCRtpReceiver }).RTCRtpReceiver?.getCapabilities?.(kind);
    return capabilities?.codecs.filter((c) => !UNSUPPORTED_CODECS.has(c.mimeType.toLowerCase()));
  }

  /** Tells the worker which codec each payload type is (for browsers whose frame metadata lacks mimeType). */
  #sendCodecs(): void {
    const sdp = [this.#pc.localDescription?.sdp, this.#pc.remoteDescription?.sdp].filter(Boolean).join('\n');
    if (!sdp) return;
    const payloadTypes: Record<number, string> = {};
    for (const match of sdp.matchAll(/^a=rtpmap:(\d+) ([^/\s]+)/gm)) payloadTypes[Number(match[1])] = match[2]!;
    this.#post({ type: 'codecs', payloadTypes });
  }

  /** Live counters: frames sealed/opened, bytes, drops by reason, last error, per-frame cost (after `end()`: the final ones). */
  stats(): Promise<TransportStats> {
    if (this.#ended) return Promise.resolve(this.#final ?? noStats());
    return new Promise((resolve) => {
      const requestId = this.#nextRequest++;
      this.#pending.set(requestId, resolve);
      this.#post({ type: 'stats', requestId });
    });
  }

  /**
   * Ends encryption: the worker wipes the key and drops every later frame; then it is terminated. Resolves with the
   * final counters, or `undefined` when the worker did not answer within a second.
   */
  async end(): Promise<TransportStats | undefined> {
    const final = await Promise.race([this.stats(), new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000))]);
    this.#final = final;
    this.#ended = true;
    // Requests the worker will not answer any more (it is about to be terminated) get the final counters.
    for (const resolve of this.#pending.values()) resolve(final ?? noStats());
    this.#pending.clear();
    for (const [event, listener] of this.#listeners) this.#pc.removeEventListener(event, listener);
    this.#post({ type: 'end' });
    setTimeout(() => this.#worker.terminate(), 100);
    return final;
  }

  #post(message: ToWorker, transfer: Transferable[] = []): void {
    this.#worker.postMessage(message, transfer);
  }

  #onWorker(message: FromWorker): void {
    switch (message.type) {
      case 'stats':
        this.#pending.get(message.requestId)?.(message.stats);
        this.#pending.delete(message.requestId);
        return;
      case 'error':
        this.emit('error', { message: message.message, fatal: message.fatal });
        return;
      case 'abort':
        if (this.#aborted) return;
        this.#aborted = true;
        this.emit('abort', { reason: message.reason });
        return;
      case 'keyframe-request':
        // createEncodedStreams has no receiver-side key-frame request; the next key frame (periodic or after
        // the peer's own PLI from packet loss) repairs the stream. Counted in stats.
        return;
      case 'ready':
        return;
    }
  }
}

/** @deprecated the former name of `PeerConnectionEncryption` (it encrypts a peer connection's media; it is not a call). */
export const SecureCall = PeerConnectionEncryption;
/** @deprecated the former name of `PeerConnectionEncryptionOptions`. */
export type SecureCallOptions = PeerConnectionEncryptionOptions;
/** @deprecated the former name of `PeerConnectionEncryptionEvents`. */
export type SecureCallEvents = PeerConnectionEncryptionEvents;
