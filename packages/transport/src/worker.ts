/**
 * The encryption worker: one per call, hosting every sender and receiver transform of it. Serves both APIs:
 * `onrtctransform` for `RTCRtpScriptTransform` (Chromium, Firefox, Safari) and `onmessage` streams transferred
 * from `createEncodedStreams()` (older Chromium). One crypto path: `FrameCryptor`.
 *
 * Frames from 512 bytes up go through Web Crypto (2–10× faster than @noble there, docs/PERFORMANCE.md), smaller
 * ones through @noble; the wire bytes are the same either way.
 *
 * No frame passes without the key: transforms wait for it (the main thread posts it before attaching any), and a
 * frame that cannot be sealed is dropped, never sent in the clear.
 */

import { SeqExhaustedError } from '@mtcall/crypto';
import { FrameCryptor, emptyFrameCryptorStats, type MediaKind } from './frame-cryptor.js';
import type { FromWorker, ToWorker, TransformOptions, TransportStats } from './worker-protocol.js';

/** Consecutive undecryptable video frames after which a key frame is requested. */
const KEY_FRAME_AFTER_FAILURES = 3;
/** At most one key-frame request per stream per this many ms. */
const KEY_FRAME_INTERVAL_MS = 1000;

interface EncodedFrame {
  data: ArrayBuffer;
  type?: string;
  getMetadata(): { mimeType?: string; payloadType?: number };
}

interface Transformer {
  readable: ReadableStream<EncodedFrame>;
  writable: WritableStream<EncodedFrame>;
  options?: TransformOptions;
  sendKeyFrameRequest?: () => Promise<void>;
}

const scope = globalThis as unknown as {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  onrtctransform: ((event: { transformer: Transformer }) => void) | null;
  performance: Performance;
};

let cryptor: FrameCryptor | undefined;
let ended = false;
let resolveKey: () => void;
const keyReady = new Promise<void>((resolve) => (resolveKey = resolve));
let payloadTypes: Record<number, string> = {};
const extra = {
  ciphertextDiffers: 0,
  keyFrameRequests: 0,
  sealMicros: 0,
  openMicros: 0,
  lastError: undefined as string | undefined,
  plaintextSamples: undefined as string[] | undefined,
};

function post(message: FromWorker): void {
  scope.postMessage(message);
}

function codecOf(frame: EncodedFrame): string | undefined {
  const metadata = frame.getMetadata();
  if (metadata.mimeType) return metadata.mimeType;
  return metadata.payloadType !== undefined ? payloadTypes[metadata.payloadType] : undefined;
}

/** Exact ArrayBuffer of a view (frame.data must be a whole ArrayBuffer). */
function toArrayBuffer(view: Uint8Array): ArrayBuffer {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer) return view.buffer;
  return view.slice().buffer;
}

/** True when the wire frame does not carry the plaintext frame's tail bytes in the clear (checks up to 64 bytes). */
function differsFromPlaintext(plain: Uint8Array, wire: Uint8Array): boolean {
  if (plain.length === 0) return false;
  const n = Math.min(64, plain.length);
  const tail = plain.subarray(plain.length - n);
  outer: for (let i = 0; i + n <= wire.length; i++) {
    for (let j = 0; j < n; j++) if (wire[i + j] !== tail[j]) continue outer;
    return false;
  }
  return true;
}

function attach(readable: ReadableStream<EncodedFrame>, writable: WritableStream<EncodedFrame>, options: TransformOptions, transformer?: Transformer): void {
  const kind: MediaKind = options.kind;
  let failures = 0;
  let lastKeyFrameRequest = -Infinity;
  const requestKeyFrame = () => {
    const now = scope.performance.now();
    if (now - lastKeyFrameRequest < KEY_FRAME_INTERVAL_MS) return;
    lastKeyFrameRequest = now;
    extra.keyFrameRequests++;
    if (transformer?.sendKeyFrameRequest) transformer.sendKeyFrameRequest().catch(() => undefined);
    else post({ type: 'keyframe-request', streamId: options.streamId });
  };
  const transform = new TransformStream<EncodedFrame, EncodedFrame>({
    async transform(frame, controller) {
      if (!cryptor) await keyReady;
      if (ended || !cryptor) return; // the call ended: drop, never pass plaintext
      const data = new Uint8Array(frame.data);
      if (options.side === 'send') {
        try {
          const started = scope.performance.now();
          const wire = await cryptor.encryptAsync(data, kind, codecOf(frame));
          extra.sealMicros += (scope.performance.now() - started) * 1000;
          if (differsFromPlaintext(data, wire)) extra.ciphertextDiffers++;
          if (extra.plaintextSamples && kind === 'video' && data.length >= 256 && extra.plaintextSamples.length < 16) {
            const middle = data.length >> 1;
            extra.plaintextSamples.push(Array.from(data.subarray(middle, middle + 24), (b) => b.toString(16).padStart(2, '0')).join(''));
          }
          frame.data = toArrayBuffer(wire);
          controller.enqueue(frame);
        } catch (error) {
          extra.lastError = error instanceof Error ? error.message : String(error);
          post({ type: 'error', message: extra.lastError, fatal: error instanceof SeqExhaustedError });
        }
        return;
      }
      const started = scope.performance.now();
      const result = await cryptor.decryptAsync(data, kind);
      extra.openMicros += (scope.performance.now() - started) * 1000;
      if (result.ok) {
        failures = 0;
        if (result.frame.length > 0) frame.data = result.frame.slice().buffer; // empty (DTX) frames pass untouched
        controller.enqueue(frame);
        return;
      }
      extra.lastError = `dropped ${kind} frame: ${result.reason}`;
      if (kind === 'video' && ++failures >= KEY_FRAME_AFTER_FAILURES) requestKeyFrame();
    },
  });
  readable.pipeThrough(transform).pipeTo(writable).catch((error: unknown) => {
    if (!ended) post({ type: 'error', message: `transform stream ${options.streamId} failed: ${String(error)}`, fatal: false });
  });
}

scope.onrtctransform = (event) => {
  const transformer = event.transformer;
  attach(transformer.readable, transformer.writable, transformer.options!, transformer);
};

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.type) {
    case 'key':
      cryptor?.destroy();
      cryptor = new FrameCryptor(message.key, message.outgoing);
      if (message.plaintextSamples) extra.plaintextSamples = [];
      message.key.fill(0); // our copy (structured clone); the cryptor holds its slices
      resolveKey();
      post({ type: 'ready' });
      return;
    case 'codecs':
      payloadTypes = message.payloadTypes;
      return;
    case 'stream':
      attach(message.readable as ReadableStream<EncodedFrame>, message.writable as WritableStream<EncodedFrame>, message.options);
      return;
    case 'stats': {
      const stats: TransportStats = { ...(cryptor?.stats ?? emptyFrameCryptorStats()), ...extra };
      post({ type: 'stats', requestId: message.requestId, stats });
      return;
    }
    case 'end':
      ended = true;
      cryptor?.destroy();
      resolveKey();
      return;
  }
};
