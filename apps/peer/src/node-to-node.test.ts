import { afterEach, describe, expect, it } from 'vitest';
import { startSignalingServer, type RunningSignalingServer } from '@mtcall/signaling/server';
import { startPeer, type RunningPeer } from './run.js';

let server: RunningSignalingServer | undefined;
const peers: RunningPeer[] = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) await peer.close();
  await server?.close();
});

/** Polls `read` every 100 ms until `done` holds; fails with the last value after `timeoutMs`. */
async function until<T>(read: () => T, done: (value: T) => boolean, what: string, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)?.slice(0, 2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function callPair(options: { wrongKey?: boolean } = {}) {
  server = await startSignalingServer({ port: 0, log: () => undefined });
  const bob = await startPeer({ server: server.url, user: 'bob', send: { type: 'echo' }, ...(options.wrongKey ? { wrongKey: true } : {}) });
  peers.push(bob);
  const alice = await startPeer({ server: server.url, user: 'alice', call: 'bob', send: { type: 'tone', frequency: 660 } });
  peers.push(alice);
  return { alice, bob };
}

describe('mtcall-peer ↔ mtcall-peer through the real signaling server (werift, no browser)', () => {
  it('same emoji; the caller\'s sealed 660 Hz tone is opened and decoded by the callee, whose echo is opened by the caller', async () => {
    const { alice, bob } = await callPair();
    const [a, b] = await until(
      () => [alice.report(), bob.report()] as const,
      ([x, y]) => (x?.audio.decoded ?? 0) >= 100 && (y?.audio.decoded ?? 0) >= 100,
      'audio both ways',
    );
    expect(a!.emoji).toHaveLength(4);
    expect(a!.emoji).toEqual(b!.emoji);
    expect(a!.connectionState).toBe('connected');
    for (const side of [a!, b!]) {
      expect(side.dropped, JSON.stringify(side.crypto.dropped)).toBe(0);
      expect(Math.abs(side.audio.dominantHz - 660), `heard ${side.audio.dominantHz} Hz`).toBeLessThan(10);
      expect(side.audio.rms).toBeGreaterThan(0.05);
      expect(side.crypto.opened.frames).toBeGreaterThanOrEqual(100);
    }
    // Bob opened what Alice sealed; Alice opened what Bob re-sealed in his own direction.
    expect(b!.crypto.opened.frames).toBeLessThanOrEqual(a!.crypto.sealed.frames);
    expect(a!.crypto.opened.frames).toBeLessThanOrEqual(b!.crypto.sealed.frames);
    expect(b!.crypto.sealed.frames).toBeGreaterThanOrEqual(100);
  });

  it('both sides restart ICE at the same moment (glare): the callee gives way, the ICE credentials change on both sides, audio carries on with no replay drop', async () => {
    const { alice, bob } = await callPair();
    const ufrag = (peer: RunningPeer) => /a=ice-ufrag:(\S+)/.exec(peer.calls.at(-1)!.media!.pc.localDescription!.sdp)?.[1];
    const [a0, b0] = await until(() => [alice.report(), bob.report()] as const, ([x, y]) => (x?.audio.decoded ?? 0) >= 50 && (y?.audio.decoded ?? 0) >= 50, 'audio both ways');
    const before = [ufrag(alice), ufrag(bob)];
    alice.calls.at(-1)!.media!.restartIce();
    bob.calls.at(-1)!.media!.restartIce();
    const stable = (peer: RunningPeer) => peer.calls.at(-1)!.media!.pc.signalingState === 'stable';
    await until(() => [ufrag(alice), ufrag(bob), stable(alice), stable(bob)] as const, ([x, y, p, q]) => x !== before[0] && y !== before[1] && p && q, 'new ICE credentials on both sides, negotiation settled');
    const [a1, b1] = await until(() => [alice.report(), bob.report()] as const, ([x, y]) => x!.audio.decoded >= a0!.audio.decoded + 100 && y!.audio.decoded >= b0!.audio.decoded + 100, 'audio both ways after the restart');
    for (const side of [a1!, b1!]) {
      expect(side.path.iceRestarts).toBeGreaterThanOrEqual(1);
      expect(side.dropped, JSON.stringify(side.crypto.dropped)).toBe(0); // one RTP subscription per track: no replays
      expect(side.connectionState).toBe('connected');
    }
    expect(a1!.emoji).toEqual(b1!.emoji);
  });

  it('with a wrong media key the callee opens nothing and counts auth drops', async () => {
    const { bob } = await callPair({ wrongKey: true });
    const b = await until(() => bob.report(), (r) => (r?.crypto.dropped.auth ?? 0) >= 50, 'auth drops');
    expect(b!.crypto.opened.frames).toBe(0);
    expect(b!.audio.decoded).toBe(0);
    expect(b!.audio.packets).toBeGreaterThanOrEqual(50);
    expect(b!.audio.sent).toBe(0); // nothing opened, nothing to echo
  });
});
