import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { bytesToBase64, generateDhKeyPair, sha256, TELEGRAM_DH_GROUP } from '@mtcall/crypto';
import { DEFAULT_ABUSE_LIMITS, startSignalingServer, type RunningSignalingServer, type ServerLogEntry } from './server.js';
import { SignalingClient, type Call } from './client.js';
import { RawClient } from './test-support/raw-client.js';
import type { CallEndReason } from './protocol.js';

let server: RunningSignalingServer;
let logs: ServerLogEntry[];
const clients: SignalingClient[] = [];
const raws: RawClient[] = [];

async function client(userId: string, deviceId?: string, extra: Partial<ConstructorParameters<typeof SignalingClient>[0]> = {}): Promise<SignalingClient> {
  const c = new SignalingClient({ url: server.url, userId, ...(deviceId ? { deviceId } : {}), WebSocket: WebSocket as never, ...extra });
  clients.push(c);
  await c.connect();
  return c;
}

async function raw(userId?: string, deviceId = 'd1'): Promise<RawClient> {
  const r = await RawClient.connect(server.url, userId ? { userId, deviceId } : undefined);
  raws.push(r);
  return r;
}

beforeEach(async () => {
  logs = [];
  server = await startSignalingServer({ port: 0, log: (e) => logs.push(e), ringTimeoutMs: 10_000, confirmTimeoutMs: 10_000, tickMs: 50 });
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of raws.splice(0)) r.close();
  await server.close();
});

/** Places a call alice → bob and has `answer` accept it; resolves with both calls established. */
async function establish(alice: SignalingClient, bob: SignalingClient | SignalingClient[], pick = 0): Promise<{ outgoing: Call; incoming: Call }> {
  const devices = Array.isArray(bob) ? bob : [bob];
  const rings = devices.map((d) => d.next('incoming', 10_000));
  const outgoing = alice.call(devices[0]!.userId);
  const incoming = await rings[pick]!;
  const established = Promise.all([outgoing.next('established', 10_000), incoming.next('established', 10_000)]);
  incoming.accept();
  await established;
  return { outgoing, incoming };
}

describe('through the real server on loopback', () => {
  it('two clients agree a key and show the same four emoji; the server never saw a, b or the key', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const { outgoing, incoming } = await establish(alice, bob);
    expect(outgoing.keys!.emoji).toEqual(incoming.keys!.emoji);
    expect(outgoing.keys!.emoji).toHaveLength(4);
    expect(Buffer.from(outgoing.keys!.key).equals(Buffer.from(incoming.keys!.key))).toBe(true);
    expect(outgoing.keys!.fingerprint).toBe(incoming.keys!.fingerprint);
    expect(incoming.peerId).toBe('alice');
    const keyHex = Buffer.from(outgoing.keys!.key).toString('hex');
    expect(JSON.stringify(logs)).not.toContain(keyHex.slice(0, 32));
    expect(server.core.stats.callsEstablished).toBe(1);
  });

  it('fans out to every device of the callee; the first to accept wins, the others are told', async () => {
    const alice = await client('alice');
    const phone = await client('bob', 'phone');
    const laptop = await client('bob', 'laptop');
    const laptopEnded = (async () => (await (await laptop.next('incoming', 10_000)).next('ended', 10_000)).reason)();
    const { outgoing, incoming } = await establish(alice, [phone, laptop], 0);
    expect(await laptopEnded).toBe('answered-elsewhere');
    expect(incoming.keys!.emoji).toEqual(outgoing.keys!.emoji);
    // In-call signaling now goes to the phone only.
    const got = incoming.next('signal', 10_000);
    outgoing.sendSignal({ type: 'media', audio: true, video: false });
    expect(await got).toEqual({ type: 'media', audio: true, video: false });
  });

  it('a second accept from another device gets an error and changes nothing', async () => {
    const alice = await raw('alice');
    const phone = await raw('bob', 'phone');
    const laptop = await raw('bob', 'laptop');
    const gB = bytesToBase64(generateDhKeyPair(TELEGRAM_DH_GROUP.p, 3).publicKey);
    alice.send({ type: 'requestCall', requestId: 'r1', calleeId: 'bob', gAHash: bytesToBase64(sha256(new Uint8Array(1))), video: false });
    const { callId } = await alice.next('callRequested');
    await phone.next('phoneCallRequested');
    await laptop.next('phoneCallRequested');
    phone.send({ type: 'acceptCall', callId, gB });
    await alice.next('phoneCallAccepted');
    expect((await laptop.next('phoneCallDiscarded')).reason).toBe('answered-elsewhere');
    laptop.send({ type: 'acceptCall', callId, gB });
    expect(await laptop.next('error')).toMatchObject({ code: 'not-a-participant', callId });
    phone.send({ type: 'acceptCall', callId, gB });
    expect(await phone.next('error')).toMatchObject({ code: 'wrong-state', callId });
    expect(alice.received.filter((m) => m.type === 'phoneCallAccepted')).toHaveLength(0);
  });

  it('hang-up, decline, busy and offline reach the caller with the reason', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const carol = await client('carol');
    // Offline.
    expect((await alice.call('nobody').next('ended', 10_000)).reason).toBe('offline');
    // Decline.
    const ring = bob.next('incoming', 10_000);
    const declined = alice.call('bob');
    (await ring).decline();
    expect(await declined.next('ended', 10_000)).toMatchObject({ reason: 'declined', byPeer: true });
    // Busy while bob talks to alice.
    const { outgoing, incoming } = await establish(alice, bob);
    expect((await carol.call('bob').next('ended', 10_000)).reason).toBe('busy');
    // Hang-up reaches the peer, and wipes the key on both sides.
    const key = incoming.keys!.key;
    const ended = incoming.next('ended', 10_000);
    outgoing.hangUp();
    expect(await ended).toMatchObject({ reason: 'hangup', byPeer: true });
    expect(key.every((b) => b === 0)).toBe(true);
  });

  it('a dropped connection ends the call for the peer', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const { outgoing } = await establish(alice, bob);
    const ended = outgoing.next('ended', 10_000);
    bob.close();
    expect(['hangup', 'disconnected']).toContain((await ended).reason);
  });

  it('an unanswered call times out on both sides', async () => {
    await server.close();
    server = await startSignalingServer({ port: 0, ringTimeoutMs: 300, confirmTimeoutMs: 300, tickMs: 20 });
    const alice = await client('alice', undefined, { timeouts: { ringMs: 60_000 } });
    const bob = await client('bob', undefined, { timeouts: { ringMs: 60_000 } });
    const ring = bob.next('incoming', 10_000);
    const call = alice.call('bob');
    const incoming = await ring;
    const [a, b] = await Promise.all([call.next('ended', 10_000), incoming.next('ended', 10_000)]);
    expect(a.reason).toBe('timeout');
    expect(b.reason).toBe('timeout');
  });

  it('an accepted call that is never confirmed times out', async () => {
    await server.close();
    server = await startSignalingServer({ port: 0, ringTimeoutMs: 10_000, confirmTimeoutMs: 300, tickMs: 20 });
    const alice = await raw('alice');
    const bob = await raw('bob');
    alice.send({ type: 'requestCall', requestId: 'r', calleeId: 'bob', gAHash: bytesToBase64(new Uint8Array(32)), video: false });
    const { callId } = await alice.next('callRequested');
    await bob.next('phoneCallRequested');
    bob.send({ type: 'acceptCall', callId, gB: bytesToBase64(generateDhKeyPair(TELEGRAM_DH_GROUP.p, 3).publicKey) });
    expect((await bob.next('phoneCallDiscarded')).reason).toBe('timeout');
    expect((await alice.next('phoneCallDiscarded')).reason).toBe('timeout');
  });

  it('the in-call signaling channel is sealed: the server relays ciphertext and a replay is dropped', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const { outgoing, incoming } = await establish(alice, bob);
    // Tap the relay: capture what the server forwards.
    const seen: string[] = [];
    const original = server.core.receive.bind(server.core);
    server.core.receive = (id, text, length, now) => {
      if (text.includes('signalingData')) seen.push(text);
      return original(id, text, length, now);
    };
    const sdp = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=fingerprint:sha-256 AB:CD:EF\r\n';
    const got = incoming.next('signal', 10_000);
    outgoing.sendSignal({ type: 'sdp', description: { type: 'offer', sdp } });
    expect(await got).toEqual({ type: 'sdp', description: { type: 'offer', sdp } });
    expect(seen).toHaveLength(1);
    expect(seen[0]).not.toContain('fingerprint');
    expect(Buffer.from(JSON.parse(seen[0]!).data, 'base64').toString('latin1')).not.toContain('fingerprint');
    // The server (or anyone on its path) replays the packet: dropped as a replay, not delivered twice.
    const dropped = incoming.next('signalDropped', 10_000);
    const replay = JSON.parse(seen[0]!) as { data: string };
    server.core.receive = original;
    (incoming as unknown as { receive(m: unknown): void }).receive({ type: 'signalingData', callId: incoming.callId, data: replay.data });
    expect(await dropped).toBe('replay');
    // And the other direction works too (x = 136).
    const back = outgoing.next('signal', 10_000);
    incoming.sendSignal({ type: 'hangup', reason: 'done' });
    expect(await back).toEqual({ type: 'hangup', reason: 'done' });
    expect(incoming.stats.signaling!.received.dropped.replay).toBe(1);
  });

  it('200 concurrent calls through one server all agree keys (counted, not timed)', async () => {
    const n = 200;
    // 400 connections from one address: above the default per-address cap, so this server lifts it.
    await server.close();
    server = await startSignalingServer({ port: 0, limits: { ...DEFAULT_ABUSE_LIMITS, maxConnectionsPerAddress: 0 } });
    const callers = await Promise.all(Array.from({ length: n }, (_, i) => client(`caller${i}`)));
    const callees = await Promise.all(Array.from({ length: n }, (_, i) => client(`callee${i}`)));
    const results = await Promise.all(
      callers.map(async (caller, i) => {
        const ring = callees[i]!.next('incoming', 60_000);
        const call = caller.call(`callee${i}`, { video: false });
        const incoming = await ring;
        const both = Promise.all([call.next('established', 60_000), incoming.next('established', 60_000)]);
        incoming.accept();
        const [a, b] = await both;
        return a.emoji.join('') === b.emoji.join('');
      }),
    );
    expect(results.filter(Boolean)).toHaveLength(n);
    expect(server.core.stats.callsEstablished).toBe(n);
    expect(server.core.stats.activeCalls).toBe(n);
  }, 120_000);
});

describe('bad input gets an error reply and the server keeps serving', () => {
  it('answers each kind of bad frame with a named error, keeps the connection and other calls', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    const { outgoing, incoming } = await establish(alice, bob);
    const mallory = await raw();
    const cases: [unknown, string][] = [
      ['{not json', 'bad-json'],
      ['[1,2]', 'invalid-message'],
      [{ type: 'launchMissiles' }, 'unknown-type'],
      [{ type: 'getDhConfig', version: 0 }, 'not-authenticated'],
    ];
    for (const [frame, code] of cases) {
      mallory.send(frame);
      expect((await mallory.next('error')).code).toBe(code);
    }
    mallory.send({ type: 'hello', protocol: 1, userId: 'mallory', deviceId: 'm' });
    await mallory.next('welcome');
    const callId = incoming.callId!;
    const authed: [unknown, string, RegExp?][] = [
      [{ type: 'hello', protocol: 1, userId: 'mallory', deviceId: 'm' }, 'already-authenticated'],
      [{ type: 'requestCall', requestId: 'x', calleeId: 'bob', gAHash: 'AAAA', video: false }, 'invalid-message', /gAHash must be 32 bytes/],
      [{ type: 'requestCall', requestId: 'x', calleeId: 'bob', gAHash: bytesToBase64(new Uint8Array(32)) }, 'invalid-message', /video/],
      [{ type: 'requestCall', requestId: 'x', calleeId: 'mallory', gAHash: bytesToBase64(new Uint8Array(32)), video: false }, 'self-call'],
      [{ type: 'acceptCall', callId, gB: bytesToBase64(new Uint8Array(255)) }, 'invalid-message', /gB must be 256 bytes/],
      [{ type: 'acceptCall', callId: 'nothex', gB: bytesToBase64(new Uint8Array(256)) }, 'invalid-message', /callId/],
      [{ type: 'confirmCall', callId, gA: bytesToBase64(new Uint8Array(256)), keyFingerprint: '99999999999999999999' }, 'invalid-message', /64-bit/],
      [{ type: 'confirmCall', callId, gA: bytesToBase64(new Uint8Array(256)), keyFingerprint: '1' }, 'not-a-participant'],
      [{ type: 'signalingData', callId, data: 'AAAA' }, 'not-a-participant'],
      [{ type: 'discardCall', callId, reason: 'hangup' }, 'not-a-participant'],
      [{ type: 'discardCall', callId, reason: 'because' }, 'invalid-message', /reason/],
      [{ type: 'signalingData', callId: '0'.repeat(32), data: 'AAAA' }, 'unknown-call'],
      [{ type: 'getDhConfig', version: 0, extra: 1 }, 'invalid-message'],
      ['x'.repeat(70 * 1024), 'frame-too-large'],
    ];
    for (const [frame, code, text] of authed) {
      mallory.send(frame);
      const error = await mallory.next('error');
      expect(error.code, JSON.stringify(frame).slice(0, 80)).toBe(code);
      if (text) expect(error.message).toMatch(text);
    }
    // Still usable: a well-formed request is served.
    mallory.send({ type: 'getDhConfig', version: 0 });
    expect((await mallory.next('dhConfig')).g).toBe(3);
    mallory.send({ type: 'getDhConfig', version: 1 });
    expect(await mallory.next('dhConfigNotModified')).toEqual({ type: 'dhConfigNotModified', version: 1 });
    // The established call was never disturbed.
    const got = incoming.next('signal', 10_000);
    outgoing.sendSignal({ type: 'app', data: { still: 'fine' } });
    expect(await got).toEqual({ type: 'app', data: { still: 'fine' } });
    expect(outgoing.state).toBe('established');
  });

  it('a frame that once crashed the process (a non-decimal keyFingerprint, found by the fuzzer) gets an error reply', async () => {
    const mallory = await raw();
    mallory.send({ type: 'confirmCall', callId: '0123456789abcdef0123456789abcdef', gA: bytesToBase64(new Uint8Array(256).fill(1)), keyFingerprint: 'abc' });
    expect((await mallory.next('error')).code).toBe('invalid-message');
    const alice = await client('alice');
    const bob = await client('bob');
    const { outgoing, incoming } = await establish(alice, bob);
    expect(outgoing.keys!.emoji).toEqual(incoming.keys!.emoji);
  });

  it('rate-limits a flooding client, then closes it as abusive; others are unaffected', async () => {
    await server.close();
    server = await startSignalingServer({ port: 0, rateLimit: { perSecond: 5, burst: 10, maxViolations: 20 } });
    const alice = await client('alice');
    const bob = await client('bob');
    const flood = await raw('flooder');
    for (let i = 0; i < 100; i++) flood.send({ type: 'getDhConfig', version: 1 });
    expect(((await flood.next((m) => m.type === 'error' && m.code === 'rate-limited')) as { message: string }).message).toMatch(/slow down/);
    expect((await flood.closed).code).toBe(1008);
    const { outgoing, incoming } = await establish(alice, bob);
    expect(outgoing.keys!.emoji).toEqual(incoming.keys!.emoji);
  });

  it('a rate-limited refusal names the request id of the refused frame', async () => {
    await server.close();
    server = await startSignalingServer({ port: 0, rateLimit: { perSecond: 1, burst: 2, maxViolations: 20 } });
    const flood = await raw('flooder');
    for (let i = 0; i < 4; i++) flood.send({ type: 'chatSend', requestId: `chat-r${i}`, chatId: 'c', data: 'AAAA' });
    const refused = (await flood.next((m) => m.type === 'error' && m.code === 'rate-limited')) as { requestId?: string };
    expect(refused.requestId).toMatch(/^chat-r[0-3]$/);
  });

  it('requires the token when one is set', async () => {
    await server.close();
    server = await startSignalingServer({ port: 0, token: 's3cret' });
    const wrong = await raw();
    wrong.send({ type: 'hello', protocol: 1, userId: 'eve', deviceId: 'e', token: 'guess' });
    expect((await wrong.next('error')).code).toBe('unauthorized');
    expect((await wrong.closed).code).toBe(4001);
    const right = await client('alice', undefined, { token: 's3cret' });
    expect(right.dhConfig?.version).toBe(1);
  });

  it('a device that connects again replaces its old connection', async () => {
    const first = await raw('bob', 'phone');
    await raw('bob', 'phone');
    expect((await first.closed).code).toBe(4002);
    expect(server.core.stats.users).toBe(1);
  });

  it('presence: a client follows the users it watches (snapshot, then one update per change)', async () => {
    const watcher = new SignalingClient({ url: server.url, userId: 'watcher', WebSocket: WebSocket as never, watch: ['alice', 'bob'] });
    clients.push(watcher);
    const first = watcher.next('presence', 10_000);
    await watcher.connect();
    const snapshot = await first;
    expect(snapshot).toEqual([
      { userId: 'alice', devices: 0, inCall: false },
      { userId: 'bob', devices: 0, inCall: false },
    ]);
    const joined = watcher.next('presenceChange', 10_000);
    await client('alice');
    expect(await joined).toEqual({ userId: 'alice', devices: 1, inCall: false });
    await client('carol'); // not watched: no update
    const bobJoined = watcher.next('presenceChange', 10_000);
    await client('bob');
    expect(await bobJoined).toEqual({ userId: 'bob', devices: 1, inCall: false });
    expect(watcher.presence.map((e) => `${e.userId}:${e.devices}`)).toEqual(['alice:1', 'bob:1']);
  });
});

describe('DH config', () => {
  it('a server offering a bad DH config makes calls fail with bad-dh-config', async () => {
    await server.close();
    server = await startSignalingServer({ port: 0, dhConfig: { version: 7, p: TELEGRAM_DH_GROUP.p, g: 2 } });
    const alice = await client('alice');
    await client('bob');
    const ended = await alice.call('bob').next('ended', 10_000);
    expect(ended.reason satisfies CallEndReason).toBe('bad-dh-config');
    expect(ended.detail).toMatch(/quadratic residue/);
  });

  it('clients cache the config by version and send it back', async () => {
    const alice = await client('alice');
    const cached = alice.dhConfig!;
    const again = await client('alice2', undefined, { dhConfigCache: { get: () => cached, set: () => undefined } });
    expect(again.dhConfig).toBe(cached);
  });
});

describe('--mitm (demonstration server)', () => {
  it('calls connect, signaling still flows (re-sealed), and the two sides see different emoji', async () => {
    await server.close();
    server = await startSignalingServer({ port: 0, mitm: true });
    for (let run = 0; run < 3; run++) {
      const alice = await client(`alice${run}`);
      const bob = await client(`bob${run}`);
      const { outgoing, incoming } = await establish(alice, bob);
      expect(outgoing.state).toBe('established');
      expect(incoming.state).toBe('established');
      expect(outgoing.keys!.emoji).not.toEqual(incoming.keys!.emoji);
      expect(Buffer.from(outgoing.keys!.key).equals(Buffer.from(incoming.keys!.key))).toBe(false);
      const got = incoming.next('signal', 10_000);
      outgoing.sendSignal({ type: 'media', audio: true, video: true });
      expect(await got).toEqual({ type: 'media', audio: true, video: true });
      outgoing.hangUp();
    }
  });
});

describe('the commitment on the wire', () => {
  it('the callee and the server see SHA256(g_a) first; g_a itself crosses the wire only after the callee sent g_b', async () => {
    const alice = await client('alice');
    const bob = await raw('bob');
    const seen: { from: number; text: string }[] = [];
    const original = server.core.receive.bind(server.core);
    server.core.receive = (id, text, length, now) => {
      seen.push({ from: id, text });
      return original(id, text, length, now);
    };
    const call = alice.call('bob', { video: false });
    const offer = await bob.next('phoneCallRequested');
    expect(Object.keys(offer).sort()).toEqual(['callId', 'callerId', 'gAHash', 'type', 'video']);
    const gB = bytesToBase64(generateDhKeyPair(TELEGRAM_DH_GROUP.p, 3).publicKey);
    const acceptedAt = seen.length;
    bob.send({ type: 'acceptCall', callId: offer.callId, gB });
    const revealed = await bob.next('phoneCall');
    // Everything the caller sent before bob's acceptCall: no g_a among it.
    const before = seen.slice(0, acceptedAt).map((s) => s.text).join('\n');
    expect(before).toContain(offer.gAHash);
    expect(before).not.toContain(revealed.gA);
    expect(sha256(Uint8Array.from(Buffer.from(revealed.gA, 'base64')))).toEqual(Uint8Array.from(Buffer.from(offer.gAHash, 'base64')));
    server.core.receive = original;
    call.hangUp();
  });
});
