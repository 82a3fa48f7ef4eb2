/**
 * `PeerConnectionEncryption` on the main thread, with a fake peer connection and worker: the key copy it posts is transferred
 * (nothing of it stays on this thread), mids reach the worker once negotiated, the worker's abort is re-emitted.
 */

import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { PeerConnectionEncryption } from './secure-call.js';
import type { FromWorker, ToWorker } from './worker-protocol.js';

interface Posted {
  message: ToWorker;
  transfer: Transferable[];
}

/** A worker that records what is posted to it, transferring as a real one does (structuredClone with transfer). */
function fakeWorker() {
  const posted: Posted[] = [];
  const listeners: ((event: MessageEvent<FromWorker>) => void)[] = [];
  const control = { answerStats: false, sealed: 0 };
  return {
    posted,
    control,
    fromWorker: (data: FromWorker) => listeners.forEach((l) => l({ data } as MessageEvent<FromWorker>)),
    worker: {
      postMessage(message: ToWorker, transfer: Transferable[] = []) {
        const buffers = transfer.filter((t): t is ArrayBuffer => t instanceof ArrayBuffer);
        posted.push({ message: message.type === 'key' ? structuredClone(message, { transfer: buffers }) : message, transfer });
        if (message.type === 'stats' && control.answerStats) {
          const stats = { sealed: { frames: control.sealed, bytes: 0 }, opened: { frames: 0, bytes: 0 }, empty: 0, dropped: { auth: 0, replay: 0, malformed: 0, 'too-old': 0, 'wrong-stream': 0, 'clear-mismatch': 0 }, keyFrameRequests: 0, sealMicros: 0, openMicros: 0, sealWaitMicros: 0, openWaitMicros: 0 };
          queueMicrotask(() => listeners.forEach((l) => l({ data: { type: 'stats', requestId: message.requestId, stats } } as MessageEvent<FromWorker>)));
        }
      },
      addEventListener: (_type: string, listener: (event: MessageEvent<FromWorker>) => void) => listeners.push(listener),
      terminate: () => undefined,
    } as unknown as Worker,
  };
}

function fakeTransceiver(kind: 'audio' | 'video', mid: string | null) {
  const endpoint = () => ({ createEncodedStreams: () => ({ readable: {} as ReadableStream, writable: {} as WritableStream }) });
  return { mid, sender: endpoint(), receiver: { ...endpoint(), track: { kind } } };
}

function fakePc(transceivers: ReturnType<typeof fakeTransceiver>[]) {
  return {
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
    getTransceivers: () => transceivers,
    localDescription: null,
    remoteDescription: null,
  } as unknown as RTCPeerConnection;
}

describe('PeerConnectionEncryption', () => {
  it("transfers the key copy to the worker: the main thread's copy is detached, the caller's key untouched", () => {
    const { worker, posted } = fakeWorker();
    const key = new Uint8Array(randomBytes(256));
    const original = key.slice();
    new PeerConnectionEncryption({ pc: fakePc([]), key, role: 'caller', worker, mode: 'encoded-streams', restrictCodecs: false });
    const sent = posted.find((p) => p.message.type === 'key')!;
    const copy = (sent.message as Extract<ToWorker, { type: 'key' }>).key;
    expect(sent.transfer).toHaveLength(1);
    expect(sent.transfer[0]).toBeInstanceOf(ArrayBuffer);
    expect((sent.transfer[0] as ArrayBuffer).byteLength).toBe(0); // detached: no copy left on this thread
    expect(Array.from(copy)).toEqual(Array.from(original)); // what the worker received
    expect(Array.from(key)).toEqual(Array.from(original)); // the caller's own key is the caller's to wipe
    expect(posted[0]!.message.type).toBe('key'); // before any transform
  });

  it('posts each stream with its mid, or the mid once negotiated', () => {
    const { worker, posted } = fakeWorker();
    const camera = fakeTransceiver('video', '1');
    const screen = fakeTransceiver('video', null);
    const call = new PeerConnectionEncryption({ pc: fakePc([camera, screen]), key: new Uint8Array(256), role: 'caller', worker, mode: 'encoded-streams', restrictCodecs: false });
    const streams = posted.flatMap((p) => (p.message.type === 'stream' ? [p.message.options] : []));
    expect(streams.map((o) => [o.side, o.mid])).toEqual([['send', '1'], ['receive', '1'], ['send', undefined], ['receive', undefined]]);
    expect(posted.some((p) => p.message.type === 'mid')).toBe(false);
    screen.mid = '2';
    call.attach();
    const mids = posted.flatMap((p) => (p.message.type === 'mid' ? [p.message] : []));
    expect(mids).toEqual([streams[2]!.streamId, streams[3]!.streamId].map((streamId) => ({ type: 'mid', streamId, mid: '2' })));
    call.attach();
    expect(posted.filter((p) => p.message.type === 'mid')).toHaveLength(2); // once
  });

  it('stats requests the worker will not answer any more are settled at end(), with the final counters; later ones too', async () => {
    const { worker, control } = fakeWorker();
    const call = new PeerConnectionEncryption({ pc: fakePc([]), key: new Uint8Array(256), role: 'caller', worker, mode: 'encoded-streams', restrictCodecs: false });
    const unanswered = call.stats(); // the worker is busy: no answer
    control.answerStats = true;
    control.sealed = 42;
    const final = await call.end();
    expect(final?.sealed.frames).toBe(42);
    expect((await unanswered).sealed.frames).toBe(42);
    expect((await call.stats()).sealed.frames).toBe(42);
  });

  it("re-emits the worker's abort once", () => {
    const { worker, fromWorker } = fakeWorker();
    const call = new PeerConnectionEncryption({ pc: fakePc([]), key: new Uint8Array(256), role: 'caller', worker, mode: 'encoded-streams', restrictCodecs: false });
    const aborts: unknown[] = [];
    call.on('abort', (e) => aborts.push(e));
    fromWorker({ type: 'abort', reason: 'seq-exhausted' });
    fromWorker({ type: 'abort', reason: 'seq-exhausted' });
    expect(aborts).toEqual([{ reason: 'seq-exhausted' }]);
  });
});
