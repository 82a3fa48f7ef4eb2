import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bytesToBase64, sha256 } from '@mtcall/crypto';
import { Sfu } from '@mtcall/sfu';
import { startSignalingServer, SignalingServerCore, DEFAULT_SERVER_LIMITS, DEFAULT_DH_CONFIG, type RunningSignalingServer, type StartSignalingServerOptions } from './server.js';
import { RawClient } from './test-support/raw-client.js';
import type { ServerMessage } from './protocol.js';

// Rooms through the real SFU (@mtcall/sfu on the mediasoup worker scripts/setup-sfu.sh builds).
let sfu: Sfu;
let server: RunningSignalingServer | undefined;
const raws: RawClient[] = [];

beforeAll(async () => {
  sfu = await Sfu.start({ workers: 2, maxMembersPerRouter: 2 });
});
afterAll(() => sfu?.close());
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await server?.close();
  server = undefined;
});

async function start(options: StartSignalingServerOptions = {}): Promise<RunningSignalingServer> {
  server = await startSignalingServer({ port: 0, rooms: { media: sfu, maxMembers: 3 }, ...options });
  return server;
}

async function raw(userId: string, deviceId = 'd1'): Promise<RawClient> {
  const r = await RawClient.connect(server!.url, { userId, deviceId });
  raws.push(r);
  return r;
}

let requests = 0;
const rid = () => `q${++requests}`;

async function join(r: RawClient, roomId: string): Promise<Extract<ServerMessage, { type: 'roomJoined' }>> {
  const requestId = rid();
  r.send({ type: 'joinRoom', requestId, roomId });
  return r.next((m) => m.type === 'roomJoined' && m.requestId === requestId) as Promise<Extract<ServerMessage, { type: 'roomJoined' }>>;
}

async function errorOf(r: RawClient, message: Record<string, unknown>): Promise<string> {
  r.send(message);
  const error = await r.next('error');
  return error.code;
}

const opus = (ssrc: number) => ({
  mid: '0',
  codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2, parameters: { useinbandfec: 1 }, rtcpFeedback: [] }],
  headerExtensions: [],
  encodings: [{ ssrc }],
  rtcp: { cname: `c${ssrc}`, reducedSize: true },
});

describe('rooms', () => {
  it('a server without --rooms answers room messages with rooms-disabled; 1:1 calls need no SFU', async () => {
    server = await startSignalingServer({ port: 0 });
    const a = await raw('alice');
    expect(await errorOf(a, { type: 'joinRoom', requestId: 'j1', roomId: 'r' })).toBe('rooms-disabled');
  });

  it('join: members, distributor (the first joiner), the router capabilities; the others learn who joined', async () => {
    await start();
    const [a, b, c, d] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((u) => raw(u)));
    const ja = await join(a!, 'room-1');
    expect(ja).toMatchObject({ roomId: 'room-1', memberId: 1, distributor: 1, members: [{ memberId: 1, userId: 'alice', deviceId: 'd1' }], producers: [] });
    expect((ja.rtpCapabilities as { codecs: { mimeType: string }[] }).codecs.map((x) => x.mimeType)).toContain('video/VP8');
    const jb = await join(b!, 'room-1');
    expect(jb).toMatchObject({ memberId: 2, distributor: 1 });
    expect(jb.members.map((m) => m.userId)).toEqual(['alice', 'bob']);
    expect(await a!.next('roomMembers')).toMatchObject({ joined: 2, distributor: 1, members: [{ memberId: 1 }, { memberId: 2 }] });
    await join(c!, 'room-1');
    // Three is the limit here; one connection is in one room at a time.
    expect(await errorOf(d!, { type: 'joinRoom', requestId: 'x1', roomId: 'room-1' })).toBe('room-full');
    expect(await errorOf(a!, { type: 'joinRoom', requestId: 'x2', roomId: 'room-2' })).toBe('already-in-room');
    // The SFU spread the room over two routers (2 members each) on two workers.
    expect(sfu.roomRouters('room-1').map((r) => r.members)).toEqual([2, 1]);
  });

  it('bad input gets the named errors: invalid-message, not-in-room, and the SFU refusals under their own names', async () => {
    await start();
    const [a, b] = await Promise.all(['alice', 'bob'].map((u) => raw(u)));
    expect(await errorOf(a!, { type: 'createTransport', requestId: 'c1', roomId: 'room-3', direction: 'send' })).toBe('not-in-room');
    await join(a!, 'room-3');
    await join(b!, 'room-3');
    expect(await errorOf(a!, { type: 'createTransport', requestId: 'c2', roomId: 'room-3', direction: 'sideways' })).toBe('invalid-message');
    expect(await errorOf(a!, { type: 'joinRoom', requestId: 'c3', roomId: '../etc' })).toBe('invalid-message');
    expect(await errorOf(a!, { type: 'produce', requestId: 'c4', roomId: 'room-3', transportId: 'abc', kind: 'audio', rtpParameters: { codecs: [] }, source: 'audio' })).toBe('invalid-message');
    expect(await errorOf(a!, { type: 'produce', requestId: 'c5', roomId: 'room-3', transportId: 'abc', kind: 'audio', rtpParameters: opus(1), source: 'audio' })).toBe('unknown-transport');
    expect(await errorOf(a!, { type: 'roomCode', roomId: 'room-3', epoch: 1, step: 'commit', value: 'AAAA' })).toBe('invalid-message');
    expect(await errorOf(a!, { type: 'requestCall', requestId: 'c6', calleeId: 'bob', gAHash: bytesToBase64(sha256(new Uint8Array(1))), video: false, room: { roomId: 'room-3', memberId: 9 } })).toBe('unknown-member');
  });

  it('send and receive transports, produce, consume, resume; the others learn of each producer; leaving removes it', async () => {
    await start();
    const [a, b] = await Promise.all(['alice', 'bob'].map((u) => raw(u)));
    const ja = await join(a!, 'room-4');
    await join(b!, 'room-4');
    a!.send({ type: 'createTransport', requestId: 't1', roomId: 'room-4', direction: 'send' });
    const send = await a!.next('transportCreated');
    expect(send).toMatchObject({ requestId: 't1', roomId: 'room-4' });
    a!.send({ type: 'produce', requestId: 'p1', roomId: 'room-4', transportId: send.transportId, kind: 'audio', rtpParameters: opus(4444), source: 'audio' });
    const produced = await a!.next('produced');
    const added = await b!.next('producerAdded');
    expect(added).toMatchObject({ roomId: 'room-4', producerId: produced.producerId, memberId: ja.memberId, kind: 'audio', source: 'audio' });
    b!.send({ type: 'createTransport', requestId: 't2', roomId: 'room-4', direction: 'recv' });
    const recv = await b!.next('transportCreated');
    b!.send({ type: 'consume', requestId: 'k1', roomId: 'room-4', transportId: recv.transportId, producerId: produced.producerId, rtpCapabilities: ja.rtpCapabilities });
    const consumed = await b!.next('consumed');
    expect(consumed).toMatchObject({ producerId: produced.producerId, kind: 'audio' });
    b!.send({ type: 'resumeConsumer', requestId: 'k2', roomId: 'room-4', consumerId: consumed.consumerId });
    expect(await b!.next('consumerResumed')).toMatchObject({ consumerId: consumed.consumerId });
    expect(await errorOf(a!, { type: 'consume', requestId: 'k3', roomId: 'room-4', transportId: send.transportId, producerId: produced.producerId, rtpCapabilities: ja.rtpCapabilities })).toBe('wrong-direction');
    // Microphone off: the SFU pauses the producer, the others learn it; only its member may pause it; bad input is named.
    a!.send({ type: 'pauseProducer', roomId: 'room-4', producerId: produced.producerId, paused: true });
    expect(await b!.next('producerPaused')).toEqual({ type: 'producerPaused', roomId: 'room-4', producerId: produced.producerId, memberId: ja.memberId, paused: true });
    expect(await errorOf(b!, { type: 'pauseProducer', roomId: 'room-4', producerId: produced.producerId, paused: false })).toBe('unknown-producer');
    expect(await errorOf(a!, { type: 'pauseProducer', roomId: 'room-4', producerId: produced.producerId, paused: 'yes' })).toBe('invalid-message');
    expect(await errorOf(a!, { type: 'pauseProducer', roomId: 'room-4', producerId: '0123abcd-0000', paused: true })).toBe('unknown-producer');
    expect(a!.received.some((m) => m.type === 'producerPaused')).toBe(false);
    // A newcomer is told the producers already there, and which are paused.
    const c = await raw('carol');
    expect((await join(c, 'room-4')).producers).toEqual([added && { producerId: produced.producerId, memberId: 1, kind: 'audio', source: 'audio', paused: true }]);
    a!.send({ type: 'pauseProducer', roomId: 'room-4', producerId: produced.producerId, paused: false });
    expect(await c.next('producerPaused')).toMatchObject({ producerId: produced.producerId, paused: false });
    expect(sfu.producers('room-4')[0]!.paused).toBe(false);
    a!.send({ type: 'leaveRoom', roomId: 'room-4' });
    expect(await b!.next('roomMembers')).toMatchObject({ joined: 3 });
    expect(await b!.next('roomMembers')).toMatchObject({ left: 1, distributor: 2 });
    expect(await b!.next('producerRemoved')).toMatchObject({ producerId: produced.producerId });
    expect(sfu.producers('room-4')).toEqual([]);
  });

  it('the room code messages are relayed to the other members with the sender; a key exchange rings one member and nobody turns busy', async () => {
    await start();
    const [a, b, c] = await Promise.all(['alice', 'bob', 'carol'].map((u) => raw(u)));
    await join(a!, 'room-5');
    const jb = await join(b!, 'room-5');
    await join(c!, 'room-5');
    const value = bytesToBase64(sha256(new Uint8Array([7])));
    b!.send({ type: 'roomCode', roomId: 'room-5', epoch: 3, step: 'commit', value });
    for (const r of [a!, c!]) expect(await r.next('roomCode')).toMatchObject({ from: jb.memberId, epoch: 3, step: 'commit', value });
    expect(b!.received.some((m) => m.type === 'roomCode')).toBe(false);

    const gAHash = bytesToBase64(sha256(new Uint8Array(256)));
    a!.send({ type: 'requestCall', requestId: 'x1', calleeId: 'bob', gAHash, video: false, room: { roomId: 'room-5', memberId: jb.memberId } });
    const ring = await b!.next('phoneCallRequested');
    expect(ring).toMatchObject({ callerId: 'alice', gAHash, room: { roomId: 'room-5', memberId: 1 } });
    expect(c!.received.some((m) => m.type === 'phoneCallRequested')).toBe(false);
    // The member is another user's: refused.
    expect(await errorOf(a!, { type: 'requestCall', requestId: 'x2', calleeId: 'mallory', gAHash, video: false, room: { roomId: 'room-5', memberId: jb.memberId } })).toBe('unknown-member');
    // Leaving the room ends the member's exchanges.
    b!.send({ type: 'leaveRoom', roomId: 'room-5' });
    expect(await a!.next('phoneCallDiscarded')).toMatchObject({ callId: ring.callId });
  });
});

describe('the core says when it next needs waking', () => {
  it('nothing pending: never; a ringing call: at its deadline; once confirmed: never again', () => {
    const core = new SignalingServerCore({ ...DEFAULT_SERVER_LIMITS, rateLimit: { ...DEFAULT_SERVER_LIMITS.rateLimit }, dhConfig: DEFAULT_DH_CONFIG });
    expect(core.nextWakeAt()).toBeUndefined();
    core.open(1, 0);
    core.open(2, 0);
    core.receive(1, JSON.stringify({ type: 'hello', protocol: 1, userId: 'a', deviceId: 'd' }), 60, 0);
    core.receive(2, JSON.stringify({ type: 'hello', protocol: 1, userId: 'b', deviceId: 'd' }), 60, 0);
    const gAHash = bytesToBase64(sha256(new Uint8Array(1)));
    const out = core.receive(1, JSON.stringify({ type: 'requestCall', requestId: 'r', calleeId: 'b', gAHash, video: false }), 100, 1000);
    expect(core.nextWakeAt()).toBe(1000 + DEFAULT_SERVER_LIMITS.ringTimeoutMs);
    expect(core.tick(1000 + DEFAULT_SERVER_LIMITS.ringTimeoutMs - 1)).toEqual([]);
    const ended = core.tick(1000 + DEFAULT_SERVER_LIMITS.ringTimeoutMs);
    expect(ended.filter((o) => o.kind === 'send' && o.message.type === 'phoneCallDiscarded')).toHaveLength(2);
    expect(core.nextWakeAt()).toBeUndefined();
    void out;
  });

  it('a dropped connection parks the member: the device resuming in time is the same member and catches up; one that does not leaves', async () => {
    await start({ resumeGraceMs: 60_000 });
    const a = await hello('alice');
    const b = await raw('bob');
    await join(a.client, 'room-6');
    const jb = await join(b, 'room-6');
    b.send({ type: 'createTransport', requestId: 't1', roomId: 'room-6', direction: 'send' });
    const send = await b.next('transportCreated');
    a.client.socket.terminate();
    await a.client.closed;
    // While alice is away: bob produces and sends a room code commitment; nobody is told that alice left.
    b.send({ type: 'produce', requestId: 'p1', roomId: 'room-6', transportId: send.transportId, kind: 'audio', rtpParameters: opus(6666), source: 'audio' });
    const produced = await b.next('produced');
    const value = bytesToBase64(sha256(new Uint8Array([6])));
    b.send({ type: 'roomCode', roomId: 'room-6', epoch: 2, step: 'commit', value });
    const back = await hello('alice', a.token);
    expect(back.welcome).toMatchObject({ resumedRoom: 'room-6' });
    expect(await back.client.next('roomResumed')).toEqual({
      type: 'roomResumed', roomId: 'room-6', memberId: 1, distributor: 1,
      members: [{ memberId: 1, userId: 'alice', deviceId: 'd1' }, { memberId: 2, userId: 'bob', deviceId: 'd1' }],
      producers: [{ producerId: produced.producerId, memberId: jb.memberId, kind: 'audio', source: 'audio', paused: false }],
    });
    expect(await back.client.next('roomCode')).toMatchObject({ from: jb.memberId, epoch: 2, value });
    expect(b.received.some((m) => m.type === 'roomMembers')).toBe(false);
    // The resumed connection acts as the member.
    back.client.send({ type: 'createTransport', requestId: 't2', roomId: 'room-6', direction: 'recv' });
    expect(await back.client.next('transportCreated')).toMatchObject({ requestId: 't2' });
  });

  it('a parked member that does not resume within the grace leaves (the others are told); a connection without the token does not take its place', async () => {
    await start({ resumeGraceMs: 300 });
    const a = await hello('alice');
    const b = await raw('bob');
    await join(a.client, 'room-7');
    await join(b, 'room-7');
    a.client.socket.terminate();
    await a.client.closed;
    const impostor = await hello('alice');
    expect(impostor.welcome).not.toHaveProperty('resumedRoom');
    expect(await errorOf(impostor.client, { type: 'createTransport', requestId: 'x', roomId: 'room-7', direction: 'recv' })).toBe('not-in-room');
    expect(await b.next((m) => m.type === 'roomMembers' && m.left === 1)).toMatchObject({ members: [{ memberId: 2 }], distributor: 2 });
  });
});

/** A raw client that says hello itself (optionally resuming): its welcome and the resume token it got. */
async function hello(userId: string, resume?: string): Promise<{ client: RawClient; welcome: Extract<ServerMessage, { type: 'welcome' }>; token: string }> {
  const client = await RawClient.connect(server!.url);
  raws.push(client);
  client.send({ type: 'hello', protocol: 1, userId, deviceId: 'd1', ...(resume ? { resume } : {}) });
  const welcome = await client.next('welcome');
  return { client, welcome, token: welcome.resumeToken! };
}
