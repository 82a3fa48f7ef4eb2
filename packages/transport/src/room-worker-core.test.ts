import { describe, expect, it } from 'vitest';
import { RoomWorkerCore, type RoomFromWorker } from './room-worker-core.js';

function member(self: number, clock: { now: number }) {
  const posted: RoomFromWorker[] = [];
  const core = new RoomWorkerCore({ post: (m) => posted.push(m), now: () => clock.now });
  core.handle({ type: 'room', roomId: 'r', self });
  return { core, posted };
}

describe('RoomWorkerCore', () => {
  it('drops (never passes in the clear) what it cannot seal yet; seals after the switch; opens under the named sender; nothing after the end', async () => {
    const clock = { now: 0 };
    const a = member(1, clock);
    const b = member(2, clock);
    const send = a.core.transform({ side: 'send', kind: 'audio', source: 'audio', streamId: 'p1' }, () => undefined);
    const receive = b.core.transform({ side: 'receive', kind: 'audio', source: 'audio', sender: 1, streamId: 'c1' }, () => undefined);
    const frame = new Uint8Array(100).fill(7);
    expect(await send(frame, 'audio/opus')).toBeNull();
    expect(a.core.stats().unsealedDrops).toBe(1);
    for (const m of [a, b]) m.core.handle({ type: 'install', epoch: 1, secret: new Uint8Array(32).fill(3) });
    a.core.handle({ type: 'switch', epoch: 1 });
    const wire = (await send(frame, 'audio/opus'))!;
    expect(wire).not.toBeNull();
    expect(Array.from(await receive(wire, undefined) ?? [])).toEqual(Array.from(frame));
    expect(b.core.stats().openedBySender).toEqual({ 1: 1 });
    b.core.handle({ type: 'end' });
    expect(await receive(wire, undefined)).toBeNull();
  });

  it('the transferred secret is wiped; undecryptable video asks for a key frame after 3 frames, at most once a second', async () => {
    const clock = { now: 0 };
    const b = member(2, clock);
    const secret = new Uint8Array(32).fill(9);
    b.core.handle({ type: 'install', epoch: 1, secret });
    expect(secret.every((x) => x === 0)).toBe(true);
    let requests = 0;
    const receive = b.core.transform({ side: 'receive', kind: 'video', source: 'video', sender: 1, streamId: 'c1' }, () => requests++);
    for (let i = 0; i < 6; i++) await receive(new Uint8Array(50).fill(i), 'video/VP8');
    expect(requests).toBe(1);
    clock.now = 1000;
    await receive(new Uint8Array(50), 'video/VP8');
    expect(requests).toBe(2);
    expect(b.core.stats().keyFrameRequests).toBe(2);
  });
});
