import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { parseTurnOptions, turnCredentials, turnPassword } from './turn.js';
import { startSignalingServer, type RunningSignalingServer } from './server.js';
import { SignalingClient } from './client.js';

const turn = { urls: ['turn:127.0.0.1:3478?transport=udp'], secret: 'north', ttlSeconds: 3600 };

describe('TURN REST API credentials', () => {
  it('username is expiry:user, password is base64(HMAC-SHA1(secret, username)) — checked against openssl', () => {
    const now = Date.UTC(2026, 0, 1);
    const creds = turnCredentials(turn, 'alice', now);
    expect(creds.urls).toEqual(turn.urls);
    expect(creds.username).toBe(`${now / 1000 + 3600}:alice`);
    // Independently: openssl computes the same HMAC-SHA1.
    const openssl = spawnSync('sh', ['-c', `printf %s "${creds.username}" | openssl dgst -sha1 -hmac north -binary | base64`], { encoding: 'utf8' });
    expect(openssl.status).toBe(0);
    expect(creds.credential).toBe(openssl.stdout.trim());
    // And a fixed vector (RFC 2202 test case 2: key "Jefe", "what do ya want for nothing?").
    expect(turnPassword('Jefe', 'what do ya want for nothing?')).toBe(Buffer.from('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79', 'hex').toString('base64'));
  });

  it('parses the CLI flags: repeatable and comma-separated URLs, default TTL, errors named', () => {
    expect(parseTurnOptions(undefined, undefined, undefined)).toBeUndefined();
    expect(parseTurnOptions(['turn:a:1,turn:b:2', 'turns:c:3'], 's', undefined)).toEqual({ urls: ['turn:a:1', 'turn:b:2', 'turns:c:3'], secret: 's', ttlSeconds: 3600 });
    expect(parseTurnOptions(['turn:a:1'], 's', '60')?.ttlSeconds).toBe(60);
    expect(() => parseTurnOptions(['turn:a:1'], undefined, undefined)).toThrow(/--turn-secret/);
    expect(() => parseTurnOptions(undefined, 's', undefined)).toThrow(/--turn-url/);
    expect(() => parseTurnOptions(['http://a'], 's', undefined)).toThrow(/turn:/);
    expect(() => parseTurnOptions(['turn:a:1'], 's', '-5')).toThrow(/--turn-ttl/);
  });
});

describe('welcome carries TURN credentials', () => {
  let server: RunningSignalingServer | undefined;
  const clients: SignalingClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server?.close();
  });
  const connect = async (userId: string) => {
    const c = new SignalingClient({ url: server!.url, userId, WebSocket: WebSocket as never });
    clients.push(c);
    await c.connect();
    return c;
  };

  it('each device gets its own short-lived credentials', async () => {
    server = await startSignalingServer({ port: 0, turn: { ...turn, ttlSeconds: 600 } });
    const before = Math.floor(Date.now() / 1000);
    const alice = await connect('alice');
    const [ice] = alice.iceServers;
    expect(alice.iceServers).toHaveLength(1);
    expect(ice!.urls).toEqual(turn.urls);
    const [expiry, user] = ice!.username!.split(':');
    expect(user).toBe('alice');
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + 600);
    expect(Number(expiry)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);
    expect(ice!.credential).toBe(turnPassword('north', ice!.username!));
    const bob = await connect('bob');
    expect(bob.iceServers[0]!.username).toMatch(/^\d+:bob$/);
  });

  it('without TURN config the welcome has no iceServers', async () => {
    server = await startSignalingServer({ port: 0 });
    const frames: string[] = [];
    const ws = new WebSocket(server.url);
    ws.on('message', (d) => frames.push(String(d)));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'hello', protocol: 1, userId: 'carol', deviceId: 'd1' }));
    await new Promise((r) => ws.once('message', r));
    ws.close();
    const welcome = JSON.parse(frames[0]!) as Record<string, unknown>;
    expect(welcome['type']).toBe('welcome');
    expect('iceServers' in welcome).toBe(false);
    const carol = await connect('carol2');
    expect(carol.iceServers).toEqual([]);
  });
});
