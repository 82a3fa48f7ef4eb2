import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { bytesToBase64, sha256 } from '@mtcall/crypto';
import { DEFAULT_ABUSE_LIMITS, startSignalingServer, type RunningSignalingServer, type StartSignalingServerOptions } from './server.js';
import { normalizeOrigin, originAllowed } from './origin.js';
import { RawClient } from './test-support/raw-client.js';
import type { ServerMessage } from './protocol.js';

let server: RunningSignalingServer | undefined;
const raws: RawClient[] = [];

async function start(options: StartSignalingServerOptions = {}): Promise<RunningSignalingServer> {
  server = await startSignalingServer({ port: 0, ...options });
  return server;
}

async function raw(userId: string, deviceId = 'd1'): Promise<RawClient> {
  const r = await RawClient.connect(server!.url, { userId, deviceId });
  raws.push(r);
  return r;
}

afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await server?.close();
  server = undefined;
});

const gAHash = bytesToBase64(sha256(new Uint8Array(1)));
const request = (r: RawClient, calleeId: string, requestId: string) => r.send({ type: 'requestCall', requestId, calleeId, gAHash, video: false });

describe('ring bombing', () => {
  it('one connection ringing one victim 199 times in a burst rings it once; the rest are busy', async () => {
    await start({ rateLimit: { perSecond: 1000, burst: 1000, maxViolations: 1000 } });
    const attacker = await raw('mallory');
    const victim = await raw('victim');
    for (let i = 0; i < 199; i++) request(attacker, 'victim', `r${i}`);
    const discarded: ServerMessage[] = [];
    for (let i = 0; i < 199; i++) discarded.push(await attacker.next((m) => m.type === 'callRequested' || m.type === 'error'));
    // The per-device cap stops most of them with an error before they ring; the rest are busy.
    await expect.poll(() => attacker.received.filter((m) => m.type === 'phoneCallDiscarded').length + discarded.filter((m) => m.type === 'error').length, { timeout: 10_000 }).toBe(198);
    // The victim's ring travels on its own socket: it may land after the attacker's last answer.
    await expect.poll(() => victim.received.filter((m) => m.type === 'phoneCallRequested').length, { timeout: 10_000 }).toBe(1);
    expect(discarded.filter((m) => m.type === 'error').every((m) => m.type === 'error' && m.code === 'too-many-calls')).toBe(true);
    expect(attacker.received.filter((m) => m.type === 'phoneCallDiscarded').every((m) => m.type === 'phoneCallDiscarded' && m.reason === 'busy')).toBe(true);
  });

  it('caps the calls ringing one user: the fifth caller gets busy', async () => {
    await start();
    const victim = await raw('victim');
    const callers = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((u) => raw(u)));
    for (const [i, caller] of callers.entries()) {
      request(caller, 'victim', `r${i}`);
      await caller.next('callRequested');
    }
    expect((await callers[4]!.next('phoneCallDiscarded')).reason).toBe('busy');
    expect(victim.received.filter((m) => m.type === 'phoneCallRequested')).toHaveLength(DEFAULT_ABUSE_LIMITS.maxRingingPerCallee);
    // Once one stops ringing, another caller may ring again.
    const first = victim.received.find((m) => m.type === 'phoneCallRequested')!;
    victim.send({ type: 'discardCall', callId: (first as { callId: string }).callId, reason: 'declined' });
    await callers[0]!.next('phoneCallDiscarded');
    request(callers[4]!, 'victim', 'again');
    await victim.next((m) => m.type === 'phoneCallRequested' && m.callerId === 'e');
  });

  it('caps the outgoing calls of one device: the fifth gets too-many-calls, and the cap frees as calls end', async () => {
    await start();
    const caller = await raw('caller');
    await Promise.all(['v1', 'v2', 'v3', 'v4', 'v5'].map((u) => raw(u)));
    for (let i = 1; i <= 4; i++) {
      request(caller, `v${i}`, `r${i}`);
      await caller.next('callRequested');
    }
    request(caller, 'v5', 'r5');
    expect(await caller.next('error')).toMatchObject({ code: 'too-many-calls', requestId: 'r5' });
    // Hang up one: a new call may start.
    const ringing = raws.find((r) => r.received.some((m) => m.type === 'phoneCallRequested'))!;
    const offer = (await ringing.next('phoneCallRequested'));
    caller.send({ type: 'discardCall', callId: offer.callId, reason: 'hangup' });
    await ringing.next('phoneCallDiscarded');
    request(caller, 'v5', 'r6');
    expect(await caller.next('callRequested')).toMatchObject({ requestId: 'r6' });
  });

  it('caps connections per remote address: the extra one is closed with 1008, and a slot frees when one leaves', async () => {
    await start({ limits: { ...DEFAULT_ABUSE_LIMITS, maxConnectionsPerAddress: 3 } });
    const three = await Promise.all([raw('a'), raw('b'), raw('c')]);
    const fourth = await RawClient.connect(server!.url);
    raws.push(fourth);
    expect(await fourth.closed).toEqual({ code: 1008, reason: 'too many connections from this address' });
    expect(server!.core.stats.refusedConnections).toBe(1);
    three[0]!.close();
    await expect.poll(() => server!.core.stats.connections, { timeout: 10_000 }).toBe(2);
    await raw('d'); // admitted again
  });
});

describe('Origin', () => {
  it('normalises and compares origins', () => {
    expect(normalizeOrigin('HTTP://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(normalizeOrigin('https://app.example.com:443')).toBe('https://app.example.com');
    expect(normalizeOrigin('http://a.example/path')).toBeUndefined();
    expect(normalizeOrigin('not a url')).toBeUndefined();
    const allowed = ['http://127.0.0.1:8080'];
    expect(originAllowed('http://127.0.0.1:8080', allowed)).toBe(true);
    expect(originAllowed(undefined, allowed)).toBe(true); // not a browser
    for (const forged of ['http://127.0.0.1:8081', 'https://127.0.0.1:8080', 'http://evil.example', 'http://127.0.0.1:8080.evil.example', 'null', 'http://evil.example/http://127.0.0.1:8080', '']) {
      expect(originAllowed(forged, allowed), forged).toBe(false);
    }
  });

  it('refuses a WebSocket upgrade from a forged Origin with 403 and accepts the allowed one and non-browsers', async () => {
    await start({ allowOrigin: ['http://127.0.0.1:8080'] });
    const status = (origin?: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(server!.url, origin === undefined ? {} : { origin });
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
        ws.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.once('error', () => undefined);
      });
    expect(await status('http://evil.example')).toBe(403);
    expect(await status('http://127.0.0.1:8081')).toBe(403);
    expect(await status('http://127.0.0.1:8080')).toBe(101);
    expect(await status(undefined)).toBe(101);
  });
});
