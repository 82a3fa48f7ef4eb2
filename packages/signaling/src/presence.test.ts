import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import fc from 'fast-check';
import { PresenceRegistry } from './presence.js';
import { DEFAULT_ABUSE_LIMITS, SignalingServerCore, startSignalingServer, type RunningSignalingServer, type ServerOutput } from './server.js';
import { DEFAULT_DH_CONFIG } from './server.js';
import { DEFAULT_SERVER_LIMITS } from './server-core.js';

describe('PresenceRegistry (sans-IO)', () => {
  it('a change reaches exactly the subscribers of that user, as one shared message', () => {
    const registry = new PresenceRegistry<number>({ maxWatch: 10 });
    registry.watch(1, ['alice', 'bob']);
    registry.watch(2, ['alice']);
    registry.watch(3, ['carol']);
    const fan = registry.set('alice', 1, false)!;
    expect(fan.to.sort()).toEqual([1, 2]);
    expect(fan.message).toEqual({ type: 'presenceUpdate', userId: 'alice', devices: 1, inCall: false });
    expect(registry.set('alice', 1, false)).toBeUndefined(); // no change, no message
    expect(registry.set('dave', 1, false)).toBeUndefined(); // nobody watches dave
    expect(registry.set('alice', 1, true)!.to.sort()).toEqual([1, 2]);
    registry.remove(2);
    expect(registry.set('alice', 0, false)!.to).toEqual([1]);
  });

  it('a watch above the cap is refused whole and changes nothing', () => {
    const registry = new PresenceRegistry<number>({ maxWatch: 2 });
    expect(registry.watch(1, ['a', 'b']).ok).toBe(true);
    const refused = registry.watch(1, ['a', 'b', 'c']);
    expect(refused).toMatchObject({ ok: false, code: 'watch-limit' });
    expect(registry.set('a', 1, false)!.to).toEqual([1]); // still watching a and b
    expect(registry.set('c', 1, false)).toBeUndefined();
    expect(registry.watch(1, ['a', 'a', 'b']).ok).toBe(true); // duplicates count once
  });

  it('the snapshot of a watch gives each watched user, online or not', () => {
    const registry = new PresenceRegistry<number>({ maxWatch: 10 });
    registry.set('alice', 2, true);
    expect(registry.watch(1, ['alice', 'zed'])).toEqual({
      ok: true,
      snapshot: { type: 'presence', users: [{ userId: 'alice', devices: 2, inCall: true }, { userId: 'zed', devices: 0, inCall: false }] },
    });
  });

  it('the directory is offered only when configured, lists at most its cap and says when it is truncated', () => {
    expect(new PresenceRegistry<number>({ maxWatch: 1 }).subscribeDirectory(1)).toMatchObject({ ok: false, code: 'presence-unavailable' });
    const registry = new PresenceRegistry<number>({ maxWatch: 1, directory: { maxUsers: 2 } });
    registry.set('a', 1, false);
    registry.set('b', 1, false);
    registry.set('c', 1, false); // beyond the cap: not listed
    const sub = registry.subscribeDirectory(9);
    expect(sub).toEqual({ ok: true, snapshot: { type: 'presence', users: [{ userId: 'a', devices: 1, inCall: false }, { userId: 'b', devices: 1, inCall: false }], truncated: true } });
    expect(registry.set('c', 2, false)).toBeUndefined(); // c is not in the directory
    expect(registry.set('a', 0, false)!.to).toEqual([9]); // a leaves: its slot frees
    expect(registry.set('d', 1, false)!.to).toEqual([9]); // d takes it
  });

  it('property: per change, one message per subscriber of that user, never more (random watch sets and changes)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 5 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 3 }), fc.boolean()), { maxLength: 60 }),
        (watchSets, changes) => {
          const registry = new PresenceRegistry<number>({ maxWatch: 10 });
          watchSets.forEach((users, conn) => registry.watch(conn, users.map((u) => `u${u}`)));
          const state = new Map<string, string>();
          for (const [u, devices, inCall] of changes) {
            const userId = `u${u}`;
            const before = state.get(userId) ?? '0,false';
            const after = `${devices},${devices === 0 && !inCall ? false : inCall}`;
            const fan = registry.set(userId, devices, inCall);
            const subscribers = watchSets.map((s, conn) => (s.includes(u) ? conn : -1)).filter((c) => c >= 0);
            if (before === after || subscribers.length === 0) expect(fan).toBeUndefined();
            else expect(fan!.to.sort()).toEqual(subscribers);
            state.set(userId, after);
          }
        },
      ),
    );
  });
});

describe('presence cost on the server', () => {
  let server: RunningSignalingServer | undefined;
  const sockets: WebSocket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.terminate();
    await server?.close();
    server = undefined;
  });

  it('2 000 directory subscribers joining: the core addresses one small message per subscriber per join (it sent the whole list before)', () => {
    const core = new SignalingServerCore({
      dhConfig: DEFAULT_DH_CONFIG, ringTimeoutMs: 1000, confirmTimeoutMs: 1000, maxMessageBytes: 65536,
      rateLimit: { ...DEFAULT_SERVER_LIMITS.rateLimit }, presence: { maxWatch: 10, directory: { maxUsers: 5000 } },
    });
    const n = 2000;
    let outputs = 0;
    let entries = 0;
    for (let i = 1; i <= n; i++) {
      core.open(i, 0);
      const out: ServerOutput[] = core.receive(i, JSON.stringify({ type: 'hello', protocol: 1, userId: `u${i}`, deviceId: 'd', presence: true }), 80, 0);
      for (const o of out) {
        if (o.kind !== 'send') continue;
        if (o.message.type === 'presenceUpdate') outputs++;
        if (o.message.type === 'presence' && o.to === i) entries += o.message.users.length;
      }
    }
    // Join i tells the i subscribers then connected (itself included) once each; each snapshot lists who was there.
    expect(outputs).toBe((n * (n + 1)) / 2);
    expect(entries).toBe((n * (n - 1)) / 2);
    expect(core.stats.presenceMessages).toBe((n * (n + 1)) / 2);
  });

  it('200 directory subscribers joining through the real server: under 4 MB on the wire (119 MB before), each update serialised once', async () => {
    server = await startSignalingServer({
      port: 0, rateLimit: { perSecond: 1e6, burst: 1e6, maxViolations: 1e9 }, presence: { maxWatch: 10, directory: { maxUsers: 1000 } },
      limits: { ...DEFAULT_ABUSE_LIMITS, maxConnectionsPerAddress: 0 },
    });
    const n = 200;
    const stringify = vi.spyOn(JSON, 'stringify');
    let bytes = 0;
    let updates = 0;
    for (let i = 0; i < n; i++) {
      const ws = new WebSocket(server.url);
      sockets.push(ws);
      ws.on('message', (data: Buffer) => {
        bytes += data.length;
        if (data.toString().includes('"presenceUpdate"')) updates++;
      });
      await new Promise((resolve) => ws.once('open', resolve));
      ws.send(JSON.stringify({ type: 'hello', protocol: 1, userId: `u${i}`, deviceId: 'd', presence: true }));
    }
    await expect.poll(() => updates, { timeout: 60_000 }).toBe((n * (n + 1)) / 2);
    expect(bytes).toBeLessThan(4_000_000);
    const serialised = stringify.mock.calls.filter(([value]) => (value as { type?: unknown } | null)?.type === 'presenceUpdate').length;
    stringify.mockRestore();
    expect(serialised).toBe(n); // one per join, shared by every recipient
  }, 120_000);
});
