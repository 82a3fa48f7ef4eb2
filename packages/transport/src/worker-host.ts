/**
 * Binds `WorkerCore` to a worker's globals: `onrtctransform` for `RTCRtpScriptTransform` (Chromium, Firefox,
 * Safari) and `onmessage` streams transferred from `createEncodedStreams()` (Chromium). `worker.ts` is the product
 * entry (`serveEncryptionWorker(globalThis)`); the test entry (testing/worker.ts) passes its hooks.
 */

import { toArrayBuffer, type EncodedFrame, type Transformer as TransformerOf } from './encoded-frame.js';
import { loadWasmBackend } from '@mtcall/crypto';
import { WorkerCore, type FrameTransform, type WorkerHooks } from './worker-core.js';
import type { FromWorker, ToWorker, TransformOptions } from './worker-protocol.js';


type Transformer = TransformerOf<TransformOptions>;

/** The globals of a dedicated worker that the host uses. */
export interface WorkerScope {
  postMessage(message: FromWorker): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  onrtctransform?: ((event: { transformer: Transformer }) => void) | null;
  performance: { now(): number };
}


/** Serves the encryption worker on `scope` (the worker's `globalThis`). Returns the core (tests, test entries). */
export function serveEncryptionWorker(scope: WorkerScope, hooks?: WorkerHooks): WorkerCore {
  // The call's cryptor is made when the key arrives, on the fastest backend then loaded: the key waits for the
  // WebAssembly SHA-256 to compile (a few ms; the worker is often started with the key already known), and where
  // WebAssembly is refused the cryptor runs on @noble. Frames wait for the key anyway; an `end` that overtakes the
  // key is handled first, and the key is then wiped unused.
  const backendLoaded = loadWasmBackend().then(
    () => undefined,
    () => undefined,
  );
  const core = new WorkerCore({ post: (m) => scope.postMessage(m), now: () => scope.performance.now(), ...(hooks ? { hooks } : {}) });

  function pipe(readable: ReadableStream<EncodedFrame>, writable: WritableStream<EncodedFrame>, options: TransformOptions, transformer?: Transformer): void {
    const requestKeyFrame = () => {
      if (transformer?.sendKeyFrameRequest) transformer.sendKeyFrameRequest().catch(() => undefined);
      else scope.postMessage({ type: 'keyframe-request', streamId: options.streamId });
    };
    const frames: FrameTransform = core.transform(options, requestKeyFrame);
    const sendsVideo = options.side === 'send' && options.kind === 'video';
    const transform = new TransformStream<EncodedFrame, EncodedFrame>({
      async transform(frame, controller) {
        // Only a sent video frame's codec matters (its clear bytes); getMetadata() builds a fresh dictionary per call.
        const codec = sendsVideo ? core.codecOf(frame.getMetadata()) : undefined;
        const out = await frames.process(new Uint8Array(frame.data), codec);
        if (out === null || core.ended) return; // dropped: never passed in the clear, never after the end
        frame.data = toArrayBuffer(options.side === 'receive' ? out.slice() : out);
        controller.enqueue(frame);
      },
    });
    readable.pipeThrough(transform).pipeTo(writable).catch((error: unknown) => {
      if (!core.ended) scope.postMessage({ type: 'error', message: `transform stream ${options.streamId} failed: ${String(error)}`, fatal: false });
    });
  }

  scope.onrtctransform = (event) => {
    const transformer = event.transformer;
    pipe(transformer.readable, transformer.writable, transformer.options!, transformer);
  };
  scope.onmessage = (event) => {
    const message = event.data;
    if (message.type === 'stream') pipe(message.readable as ReadableStream<EncodedFrame>, message.writable as WritableStream<EncodedFrame>, message.options);
    else if (message.type === 'key') void backendLoaded.then(() => core.handle(message));
    else core.handle(message);
  };
  return core;
}
