// The room worker's host: control messages wait for the WebAssembly SHA-256 (so the member's cryptor is made on the
// fastest backend) and are still handled in the order they were sent.
import { describe, expect, it } from 'vitest';
import { preferredBackend } from '@mtcall/crypto';
import { serveRoomWorker, type RoomWorkerScope } from './room-worker-host.js';
import type { RoomFromWorker, RoomToWorker, RoomTransportStats } from './room-worker-core.js';

function scope(): { scope: RoomWorkerScope; posted: RoomFromWorker[]; send(message: RoomToWorker): void } {
  const posted: RoomFromWorker[] = [];
  const s: RoomWorkerScope = { postMessage: (m) => posted.push(m), onmessage: null, onrtctransform: null, performance: { now: () => 0 } };
  return { scope: s, posted, send: (message) => s.onmessage!({ data: message } as MessageEvent<RoomToWorker>) };
}

async function until<T>(get: () => T | undefined): Promise<T> {
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

describe('serveRoomWorker', () => {
  it('handles room, install, switch, stats and end in order, after the backend loaded; reports the backend', async () => {
    const { scope: s, posted, send } = scope();
    const core = serveRoomWorker(s);
    send({ type: 'room', roomId: 'r', self: 4 });
    send({ type: 'install', epoch: 1, secret: new Uint8Array(32).fill(1) });
    send({ type: 'install', epoch: 2, secret: new Uint8Array(32).fill(2) });
    send({ type: 'switch', epoch: 2 });
    send({ type: 'stats', requestId: 7 });
    send({ type: 'end' });
    send({ type: 'stats', requestId: 8 });
    const stats = (id: number) => posted.find((m): m is { type: 'stats'; requestId: number; stats: RoomTransportStats } => m.type === 'stats' && m.requestId === id)?.stats;
    const before = await until(() => stats(7));
    expect(posted.filter((m) => m.type === 'error')).toEqual([]);
    expect(before.sendingEpoch).toBe(2);
    expect(before.epochs).toEqual([1, 2]);
    expect(before.backend).toBe(preferredBackend().name);
    const after = await until(() => stats(8));
    expect(after.epochs).toEqual([]);
    expect(core.ended).toBe(true);
  });
});
