/**
 * Signaling that survives the network: a dropped WebSocket, a server restart, a graceful shutdown. Real server on
 * loopback, real clients; sockets are cut from the test (`terminate()`), never mocked.
 */

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { SignalingClient, type Call } from './client.js';
import { startSignalingServer, type RunningSignalingServer } from './server.js';
import { RawClient } from './test-support/raw-client.js';
import type { InCallMessage } from './secure-channel.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
let server: RunningSignalingServer | undefined;
const clients: SignalingClient[] = [];
const raws: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of raws.splice(0)) r.close();
  await server?.close();
  server = undefined;
});

/** A `ws` WebSocket class that remembers its instances, so a test can cut one. */
function trackedWebSocket(): { WebSocket: typeof WebSocket; sockets: WebSocket[] } {
  const sockets: WebSocket[] = [];
  class Tracked extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return { WebSocket: Tracked as unknown as typeof WebSocket, sockets };
}

async function client(userId: string, extra: Partial<ConstructorParameters<typeof SignalingClient>[0]> = {}): Promise<SignalingClient> {
  const c = new SignalingClient({ url: server!.url, userId, deviceId: `${userId}-dev`, WebSocket: WebSocket as never, reconnect: { initialDelayMs: 50, maxDelayMs: 500, jitter: 0.5 }, ...extra });
  clients.push(c);
  await c.connect();
  return c;
}

async function establish(alice: SignalingClient, bob: SignalingClient): Promise<{ outgoing: Call; incoming: Call }> {
  const ring = bob.next('incoming', 10_000);
  const outgoing = alice.call('bob');
  const incoming = await ring;
  const both = Promise.all([outgoing.next('established', 10_000), incoming.next('established', 10_000)]);
  incoming.accept();
  await both;
  return { outgoing, incoming };
}

function collect(call: Call): InCallMessage[] {
  const got: InCallMessage[] = [];
  call.on('signal', (m) => got.push(m));
  return got;
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('backoff', () => {
  it('doubles from the initial delay up to the cap, with the jitter share randomised', () => {
    const mid = () => 0.5;
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, { initialDelayMs: 100, maxDelayMs: 10_000, jitter: 0 }, mid))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(20, { initialDelayMs: 100, maxDelayMs: 1000, jitter: 0 })).toBe(1000);
    expect(backoffDelay(3, DEFAULT_BACKOFF, () => 0.5)).toBe(1500);
    for (let a = 0; a < 40; a++) {
      const d = backoffDelay(a, DEFAULT_BACKOFF);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxDelayMs);
    }
  });
});

describe('a dropped WebSocket', () => {
  it('an established call carries over: the peer is not told, in-call signaling sent meanwhile arrives once on each side', async () => {
    server = await startSignalingServer({ port: 0, tickMs: 20 });
    const tracked = trackedWebSocket();
    const alice = await client('alice', { WebSocket: tracked.WebSocket as never });
    const bob = await client('bob');
    const { outgoing, incoming } = await establish(alice, bob);
    const atAlice = collect(outgoing);
    const atBob = collect(incoming);
    let bobEnded = false;
    incoming.on('ended', () => (bobEnded = true));
    const states: string[] = [];
    outgoing.on('signaling', (s) => states.push(s));
    const reconnected = alice.next('reconnected', 15_000);

    tracked.sockets[0]!.terminate(); // the network drops alice's connection
    await alice.next('reconnecting', 10_000);
    outgoing.sendSignal({ type: 'media', audio: false, video: true }); // queued at alice
    // Once the server noticed (a packet sent into a connection that is dying is lost with it, as on any network):
    await until(() => server!.core.stats.connections === 1 || alice.reconnecting === false, 'the server to notice');
    incoming.sendSignal({ type: 'media', audio: true, video: false }); // queued at the server for alice

    const { resumed, lost } = await reconnected;
    expect(resumed).toEqual([outgoing.callId]);
    expect(lost).toEqual([]);
    await until(() => atAlice.length === 1 && atBob.length === 1, `the queued messages (alice got ${atAlice.length}, bob ${atBob.length})`);
    expect(atAlice).toEqual([{ type: 'media', audio: true, video: false }]);
    expect(atBob).toEqual([{ type: 'media', audio: false, video: true }]);
    expect(states).toEqual(['interrupted', 'resumed']);
    expect(bobEnded).toBe(false);
    expect(outgoing.state).toBe('established');
    // And it keeps working both ways.
    outgoing.sendSignal({ type: 'app', data: 'after' });
    await until(() => atBob.length === 2, 'a later message');
    // A hang-up still reaches the peer.
    const ended = incoming.next('ended', 10_000);
    outgoing.hangUp();
    expect((await ended).reason).toBe('hangup');
  });

  it('checkConnection: a live connection answers; one that silently stopped delivering is given up, and the call resumes on a new one', async () => {
    server = await startSignalingServer({ port: 0, tickMs: 20 });
    const tracked = trackedWebSocket();
    const alice = await client('alice', { WebSocket: tracked.WebSocket as never });
    const bob = await client('bob');
    const { outgoing, incoming } = await establish(alice, bob);
    let reconnects = 0;
    alice.on('reconnecting', () => reconnects++);
    const atAlice = collect(outgoing);
    const atBob = collect(incoming);
    const live = outgoing.checkConnection();
    outgoing.sendSignal({ type: 'app', data: 'during a check that is answered' }); // held until the answer
    expect(await live).toBe(true);
    expect(reconnects).toBe(0);
    await until(() => atBob.length === 1, 'the message held during the check');

    // As after an address change: the socket stays open but nothing reaches alice any more.
    (tracked.sockets[0] as unknown as { _socket: { pause(): void } })._socket.pause();
    const reconnected = alice.next('reconnected', 15_000);
    const dead = alice.checkConnection(500);
    outgoing.sendSignal({ type: 'app', data: 'during a check that is not' }); // not swallowed by the dead socket
    expect(await dead).toBe(false);
    expect(reconnects).toBe(1);
    const { resumed } = await reconnected;
    expect(resumed).toEqual([outgoing.callId]);
    expect(tracked.sockets).toHaveLength(2);
    outgoing.sendSignal({ type: 'app', data: 'to bob' });
    incoming.sendSignal({ type: 'app', data: 'to alice' });
    await until(() => atAlice.length === 1 && atBob.length === 3, 'in-call signaling both ways on the new connection');
    expect(atBob).toEqual([
      { type: 'app', data: 'during a check that is answered' },
      { type: 'app', data: 'during a check that is not' },
      { type: 'app', data: 'to bob' },
    ]);
    expect(outgoing.state).toBe('established');
  });

  it('a call still ringing when the caller drops ends on both sides with disconnected', async () => {
    server = await startSignalingServer({ port: 0, tickMs: 20 });
    const tracked = trackedWebSocket();
    const alice = await client('alice', { WebSocket: tracked.WebSocket as never });
    const bob = await client('bob');
    const ring = bob.next('incoming', 10_000);
    const outgoing = alice.call('bob');
    const incoming = await ring;
    const aliceEnded = outgoing.next('ended', 10_000);
    const bobEnded = incoming.next('ended', 10_000);
    tracked.sockets[0]!.terminate();
    expect((await aliceEnded).reason).toBe('disconnected');
    expect((await bobEnded).reason).toBe('disconnected');
  });

  it('a device that does not come back within the grace period: the peer is told disconnected', async () => {
    server = await startSignalingServer({ port: 0, tickMs: 20, resumeGraceMs: 300 });
    const tracked = trackedWebSocket();
    const alice = await client('alice', { WebSocket: tracked.WebSocket as never, reconnect: false });
    const bob = await client('bob');
    const { incoming } = await establish(alice, bob);
    const ended = incoming.next('ended', 10_000);
    tracked.sockets[0]!.terminate();
    expect((await ended).reason).toBe('disconnected');
  });

  it('a resume token is needed: an impostor claiming the device id carries over no call and gets none of its signaling', async () => {
    server = await startSignalingServer({ port: 0, tickMs: 20 });
    const tracked = trackedWebSocket();
    const alice = await client('alice', { WebSocket: tracked.WebSocket as never, reconnect: false });
    const bob = await client('bob');
    const { incoming } = await establish(alice, bob);
    tracked.sockets[0]!.terminate();
    await until(() => server!.core.stats.connections === 1, 'alice gone');
    const impostor = await RawClient.connect(server.url);
    raws.push(impostor);
    impostor.send({ type: 'hello', protocol: 1, userId: 'alice', deviceId: 'alice-dev', resume: 'A'.repeat(24) });
    const welcome = await impostor.next('welcome');
    expect(welcome.resumed).toBeUndefined();
    incoming.sendSignal({ type: 'app', data: 'secret' });
    impostor.send({ type: 'getDhConfig', version: 0 });
    await impostor.next((m) => m.type === 'dhConfig');
    expect(impostor.received.filter((m) => m.type === 'signalingData')).toEqual([]);
  });
});

describe('a server restart', () => {
  it('graceful shutdown tells clients to reconnect; on a fresh instance both sides re-join the established call (proofs from the key) and a mute toggle gets through', async () => {
    server = await startSignalingServer({ port: 0, tickMs: 20 });
    const port = server.port;
    const alice = await client('alice');
    const bob = await client('bob');
    const { outgoing, incoming } = await establish(alice, bob);
    const atBob = collect(incoming);
    const codes: number[] = [];
    alice.on('reconnecting', (r) => codes.push(r.code));
    const back = Promise.all([outgoing.next('signaling', 20_000).then(() => outgoing.next('signaling', 20_000)), incoming.next('signaling', 20_000).then(() => incoming.next('signaling', 20_000))]);
    await server.shutdown();
    server = await startSignalingServer({ port, tickMs: 20 });
    expect(await back).toEqual(['resumed', 'resumed']); // after 'interrupted'
    expect(codes[0]).toBe(1012);
    // Media does not pass through the server: the calls never stopped; and their sealed signaling flows again.
    expect(outgoing.state).toBe('established');
    expect(incoming.state).toBe('established');
    outgoing.sendSignal({ type: 'media', audio: false, video: true });
    await until(() => atBob.length === 1, 'the mute toggle at bob');
    expect(atBob[0]).toEqual({ type: 'media', audio: false, video: true });
    expect(server.core.stats.activeCalls).toBe(1);
  });

  it('a re-join needs the same proof from the other side: a forged claim re-creates nothing', async () => {
    server = await startSignalingServer({ port: 0, tickMs: 20 });
    const a = await RawClient.connect(server.url);
    const b = await RawClient.connect(server.url);
    raws.push(a, b);
    const callId = '0'.repeat(32);
    const proof = (byte: number) => Buffer.alloc(32, byte).toString('base64');
    a.send({ type: 'hello', protocol: 1, userId: 'alice', deviceId: 'a', rejoin: [{ callId, role: 'caller', proof: proof(1) }] });
    await a.next('welcome');
    b.send({ type: 'hello', protocol: 1, userId: 'mallory', deviceId: 'm', rejoin: [{ callId, role: 'callee', proof: proof(2) }] });
    await b.next('welcome');
    expect(server.core.stats.activeCalls).toBe(0);
    expect([...a.received, ...b.received].some((m) => m.type === 'callRejoined')).toBe(false);
  });

  it('mtcall-signal exits on SIGTERM after telling its clients to reconnect (1012)', async () => {
    const child = spawn(process.execPath, [cli, '--port', '0', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /listening on (ws:\/\/\S+)/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const raw = await RawClient.connect(url, { userId: 'alice', deviceId: 'a' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect((await raw.closed).code).toBe(1012);
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM: telling clients to reconnect/);
  });
});
