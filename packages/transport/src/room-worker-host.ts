/**
 * Binds `RoomWorkerCore` to a worker's globals, as worker-host.ts does for calls: `onrtctransform`
 * (`RTCRtpScriptTransform`: Firefox, Safari, Chromium) and streams transferred from `createEncodedStreams()`
 * (Chromium). `room-worker.ts` is the product entry; `testing/room-worker.ts` the test entry.
 */

import { loadWasmBackend } from '@mtcall/crypto';
import { toArrayBuffer, type EncodedFrame, type Transformer as TransformerOf } from './encoded-frame.js';
import { RoomWorkerCore, type RoomFromWorker, type RoomToWorker, type RoomTransformOptions, type RoomWorkerHooks } from './room-worker-core.js';


type Transformer = TransformerOf<RoomTransformOptions>;

export interface RoomWorkerScope {
  postMessage(message: RoomFromWorker): void;
  onmessage: ((event: MessageEvent<RoomToWorker>) => void) | null;
  onrtctransform?: ((event: { transformer: Transformer }) => void) | null;
  performance: { now(): number };
}


/** Serves the room encryption worker on `scope`. Returns the core. */
export function serveRoomWorker(scope: RoomWorkerScope, hooks?: RoomWorkerHooks): RoomWorkerCore {
  // The member's cryptor is made by the 'room' message on the fastest backend then loaded, so every control message
  // waits for the WebAssembly SHA-256 to compile (a few ms; where WebAssembly is refused, @noble is used). They
  // wait in one chain, so they are handled in the order they were sent (install before switch, end last).
  let handled: Promise<void> = loadWasmBackend().then(
    () => undefined,
    () => undefined,
  );
  const core = new RoomWorkerCore({ post: (m) => scope.postMessage(m), now: () => scope.performance.now(), ...(hooks ? { hooks } : {}) });

  function pipe(readable: ReadableStream<EncodedFrame>, writable: WritableStream<EncodedFrame>, options: RoomTransformOptions, transformer?: Transformer): void {
    const requestKeyFrame = () => {
      if (transformer?.sendKeyFrameRequest) transformer.sendKeyFrameRequest().catch(() => undefined);
      scope.postMessage({ type: 'keyframe-request', streamId: options.streamId });
    };
    const process = core.transform(options, requestKeyFrame);
    const transform = new TransformStream<EncodedFrame, EncodedFrame>({
      async transform(frame, controller) {
        const out = await process(new Uint8Array(frame.data), core.codecOf(frame.getMetadata(), options));
        if (out === null || core.ended) return;
        frame.data = toArrayBuffer(options.side === 'receive' ? out.slice() : out);
        controller.enqueue(frame);
      },
    });
    readable.pipeThrough(transform).pipeTo(writable).catch((error: unknown) => {
      if (!core.ended) scope.postMessage({ type: 'error', message: `room transform ${options.streamId} failed: ${String(error)}` });
    });
  }

  scope.onrtctransform = (event) => pipe(event.transformer.readable, event.transformer.writable, event.transformer.options!, event.transformer);
  scope.onmessage = (event) => {
    const message = event.data;
    if (message.type === 'stream') pipe(message.readable as ReadableStream<EncodedFrame>, message.writable as WritableStream<EncodedFrame>, message.options);
    else {
      handled = handled
        .then(() => core.handle(message))
        .catch((error: unknown) => scope.postMessage({ type: 'error', message: `room worker: ${String(error)}` }));
    }
  };
  return core;
}
