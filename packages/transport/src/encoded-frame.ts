/** What the two worker hosts (calls, rooms) share of the encoded-transform API. @internal */

/** An encoded audio/video frame as both encoded-transform APIs hand it over. */
export interface EncodedFrame {
  data: ArrayBuffer;
  getMetadata(): { mimeType?: string; payloadType?: number };
}

/** `RTCRtpScriptTransform`'s transformer (`onrtctransform`), with the options the main thread gave it. */
export interface Transformer<Options> {
  readable: ReadableStream<EncodedFrame>;
  writable: WritableStream<EncodedFrame>;
  options?: Options;
  sendKeyFrameRequest?: () => Promise<void>;
}

/** An ArrayBuffer holding exactly `view` (frame.data must be a whole ArrayBuffer). */
export function toArrayBuffer(view: Uint8Array): ArrayBuffer {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer) return view.buffer;
  return view.slice().buffer;
}
