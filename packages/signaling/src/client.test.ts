import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { bytesToBase64, bytesToHex, randomBytes, sha256 } from '@mtcall/crypto';
import { SignalingClient, ENDED_CALLS_REMEMBERED, type Call } from './client.js';
import { DEFAULT_DH_CONFIG } from './server.js';
import type { ServerMessage } from './protocol.js';

/** A hostile server over a real WebSocket: it answers hello and getDhConfig, then sends what the test says. */
async function hostileServer(): Promise<{ url: string; send: (m: ServerMessage) => void; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  let socket: WebSocket | undefined;
  wss.on('connection', (ws) => {
    socket = ws;
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; userId?: string; deviceId?: string };
      if (m.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', protocol: 1, userId: m.userId, deviceId: m.deviceId, dhVersion: 1 }));
      if (m.type === 'getDhConfig') ws.send(JSON.stringify({ type: 'dhConfig', version: 1, p: bytesToBase64(DEFAULT_DH_CONFIG.p), g: DEFAULT_DH_CONFIG.g }));
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    send: (m) => socket!.send(JSON.stringify(m)),
    close: () => new Promise((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(() => resolve()); }),
  };
}

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

describe('SignalingClient against a hostile server', () => {
  it('a phoneCallRequested replayed after the call ended does not ring again (and a new call id still does)', async () => {
    const server = await hostileServer();
    const bob = new SignalingClient({ url: server.url, userId: 'bob', WebSocket: WebSocket as never });
    cleanup.push(() => bob.close(), () => server.close());
    await bob.connect();
    const incoming: Call[] = [];
    bob.on('incoming', (call) => incoming.push(call));
    const callId = bytesToHex(randomBytes(16));
    const ring: ServerMessage = { type: 'phoneCallRequested', callId, callerId: 'alice', gAHash: bytesToBase64(sha256(new Uint8Array(256))), video: false };
    server.send(ring);
    await expect.poll(() => incoming.length, { timeout: 10_000 }).toBe(1);
    const ended = incoming[0]!.next('ended', 10_000);
    server.send({ type: 'phoneCallDiscarded', callId, reason: 'hangup' });
    await ended;
    server.send(ring); // the replay
    server.send(ring);
    const fresh = { ...ring, callId: bytesToHex(randomBytes(16)) };
    server.send(fresh); // a genuinely new call still rings: it also proves the replays were processed first
    await expect.poll(() => incoming.length, { timeout: 10_000 }).toBe(2);
    expect(incoming[1]!.callId).toBe(fresh.callId);
    expect(ENDED_CALLS_REMEMBERED).toBeGreaterThanOrEqual(1024);
  });
});

describe('endpoints', () => {
  it('needs url or a non-empty urls (TypeError)', () => {
    expect(() => new SignalingClient({ userId: 'a' })).toThrow(TypeError);
    expect(() => new SignalingClient({ userId: 'a', urls: [] })).toThrow(TypeError);
  });

  it('moves to the next URL of its list when the connection drops', async () => {
    const first = await hostileServer();
    const second = await hostileServer();
    const opened: string[] = [];
    class Logged extends WebSocket {
      constructor(url: string) {
        super(url);
        opened.push(url);
      }
    }
    const client = new SignalingClient({ urls: [first.url, second.url], userId: 'a', WebSocket: Logged as never, reconnect: { initialDelayMs: 10, maxDelayMs: 50, jitter: 0 } });
    await client.connect();
    await first.close();
    await expect.poll(() => opened.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(2);
    expect(opened.slice(0, 2)).toEqual([first.url, second.url]);
    client.close();
    await second.close();
  });
});
