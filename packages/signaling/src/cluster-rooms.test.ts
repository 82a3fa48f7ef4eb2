import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { bytesToBase64, sha256 } from '@mtcall/crypto';
import { Sfu } from '@mtcall/sfu';
import { startLocalRedis, startSignalingServer, type LocalRedis, type RunningSignalingServer } from './server.js';
import { connectRedisCluster, HEARTBEAT_AND_SWEEP, INCARNATION_START, ROOM_CLAIM, ROOM_RELEASE } from './cluster-redis.js';
import { ClusterNode } from './cluster-node.js';
import { DEFAULT_DH_CONFIG, DEFAULT_SERVER_LIMITS, SignalingServerCore } from './server.js';
import type { ServerLogEntry } from './server-core.js';
import { RawClient } from './test-support/raw-client.js';
import type { ServerMessage } from './protocol.js';

// Rooms across instances of a cluster: real Redis, real servers, each with its own real SFU (mediasoup).
let redis: LocalRedis;
let db: ReturnType<typeof createClient>;
const sfus: Sfu[] = [];
const servers = new Map<string, RunningSignalingServer>();
const raws: RawClient[] = [];
const onExit: (() => Promise<unknown>)[] = [];
const TTL_MS = 3000;

async function startInstance(id: string): Promise<RunningSignalingServer> {
  const sfu = await Sfu.start({ workers: 1 });
  sfus.push(sfu);
  const server = await startSignalingServer({ port: 0, rooms: { media: sfu, maxMembers: 4 }, redis: { url: redis.url, instanceId: id, instanceTtlMs: TTL_MS } });
  servers.set(id, server);
  return server;
}

beforeAll(async () => {
  redis = await startLocalRedis();
  db = createClient({ url: redis.url });
  await db.connect();
  for (const id of ['A', 'B', 'C']) await startInstance(id);
});

afterAll(async () => {
  for (const exit of onExit.splice(0)) await exit().catch(() => {});
  for (const r of raws.splice(0)) r.close();
  for (const server of servers.values()) await server.close();
  await db?.close();
  for (const sfu of sfus) sfu.close();
  await redis?.stop();
});

async function raw(at: string, userId: string, deviceId = 'd1'): Promise<RawClient> {
  const r = await RawClient.connect(servers.get(at)!.url, { userId, deviceId });
  raws.push(r);
  return r;
}

/** Waits until instance `at` knows `count` devices of the other instances (their registrations reached it). */
async function standIns(at: string, count: number): Promise<void> {
  await expect.poll(() => servers.get(at)!.cluster!.stats.standIns, { timeout: 20_000 }).toBeGreaterThanOrEqual(count);
}

let requests = 0;
const rid = () => `q${++requests}`;
type Joined = Extract<ServerMessage, { type: 'roomJoined' }>;

function joinRequest(r: RawClient, roomId: string): Promise<Joined> {
  const requestId = rid();
  r.send({ type: 'joinRoom', requestId, roomId });
  return r.next((m) => (m.type === 'roomJoined' || m.type === 'error') && m.requestId === requestId, 20_000).then((m) => {
    if (m.type !== 'roomJoined') throw new Error(`join refused: ${JSON.stringify(m)}`);
    return m as Joined;
  });
}

/** A room's claim in Redis, its holder named by instance id (the owner value is its incarnation, `<id>/<nonce>`); {} once released. */
const owner = async (roomId: string): Promise<{ owner?: string; gen?: number }> => {
  const claim = await db.hGetAll(`mtcall:room:${roomId}`);
  return claim.owner === undefined ? {} : { owner: claim.owner.split('/')[0]!, gen: Number(claim.gen) };
};

describe('rooms across instances (real Redis, a real SFU per instance)', () => {
  it('members on A, B and C share one room on one owner: membership, the distributor, SFU requests, room code and key exchanges cross', async () => {
    const alice = await raw('A', 'alice');
    const bob = await raw('B', 'bob');
    const carol = await raw('C', 'carol');
    await standIns('A', 2);
    await standIns('B', 2);
    await standIns('C', 2);
    const ja = await joinRequest(alice, 'across-1');
    expect(ja).toMatchObject({ memberId: 1, distributor: 1 });
    expect(await owner('across-1')).toMatchObject({ owner: 'A' });
    const jb = await joinRequest(bob, 'across-1');
    expect(jb).toMatchObject({ memberId: 2, distributor: 1, members: [{ userId: 'alice' }, { userId: 'bob' }] });
    expect((jb.rtpCapabilities as { codecs: { mimeType: string }[] }).codecs.map((c) => c.mimeType)).toContain('video/VP8');
    expect(await alice.next('roomMembers')).toMatchObject({ joined: 2, distributor: 1 });
    const jc = await joinRequest(carol, 'across-1');
    expect(jc.memberId).toBe(3);
    expect(servers.get('A')!.cluster!.stats.ownedRooms).toBe(1);
    expect(servers.get('B')!.cluster!.stats).toMatchObject({ ownedRooms: 0, remoteRooms: 1 });

    // bob's SFU request reaches the owner's SFU (A's): its transport lives there.
    bob.send({ type: 'createTransport', requestId: 't1', roomId: 'across-1', direction: 'recv' });
    const transport = await bob.next('transportCreated', 20_000);
    expect((transport.iceCandidates as { port: number }[]).length).toBeGreaterThan(0);

    // The room code from C reaches A and B; a key exchange from the distributor (A) rings carol's device on C.
    const value = bytesToBase64(sha256(new Uint8Array([9])));
    carol.send({ type: 'roomCode', roomId: 'across-1', epoch: 2, step: 'commit', value });
    for (const r of [alice, bob]) expect(await r.next('roomCode', 20_000)).toMatchObject({ from: 3, epoch: 2, step: 'commit', value });
    const gAHash = bytesToBase64(sha256(new Uint8Array(256)));
    alice.send({ type: 'requestCall', requestId: 'x1', calleeId: 'carol', gAHash, video: false, room: { roomId: 'across-1', memberId: 3 } });
    expect(await carol.next('phoneCallRequested', 20_000)).toMatchObject({ callerId: 'alice', room: { roomId: 'across-1', memberId: 1 } });
    // And one from a member on B to one on C (the call lives on the room's owner, A).
    bob.send({ type: 'requestCall', requestId: 'x2', calleeId: 'carol', gAHash, video: false, room: { roomId: 'across-1', memberId: 3 } });
    expect(await carol.next((m) => m.type === 'phoneCallRequested' && m.callerId === 'bob', 20_000)).toMatchObject({ room: { roomId: 'across-1', memberId: 2 } });

    // The first member leaves: the next one distributes, on every instance.
    alice.send({ type: 'leaveRoom', roomId: 'across-1' });
    for (const r of [bob, carol]) expect(await r.next((m) => m.type === 'roomMembers' && m.left === 1, 20_000)).toMatchObject({ distributor: 2 });
    // The others leave: A releases its claim (the key is deleted), and a join on C now claims it there, a new generation.
    const first = (await owner('across-1')).gen!;
    bob.send({ type: 'leaveRoom', roomId: 'across-1' });
    carol.send({ type: 'leaveRoom', roomId: 'across-1' });
    await expect.poll(() => owner('across-1'), { timeout: 20_000 }).toEqual({});
    expect(await db.exists('mtcall:room:across-1')).toBe(0);
    expect(servers.get('B')!.cluster!.stats.remoteRooms).toBe(0);
    const again = await joinRequest(carol, 'across-1');
    expect(again.memberId).toBe(1);
    expect(await owner('across-1')).toMatchObject({ owner: 'C' });
    expect((await owner('across-1')).gen).toBeGreaterThan(first);
    carol.send({ type: 'leaveRoom', roomId: 'across-1' });
    await expect.poll(() => owner('across-1'), { timeout: 20_000 }).toEqual({});
  });

  it('forced race: two joiners on different instances at once, in 12 rooms: one owner each, distinct members, one distributor', async () => {
    const alice = await raw('A', 'alice', 'race');
    const bob = await raw('B', 'bob', 'race');
    await standIns('A', 1);
    await standIns('B', 1);
    for (let i = 0; i < 12; i++) {
      const roomId = `race-${i}`;
      // Both frames leave before either answer; who sends first alternates, so each instance wins some.
      const [ja, jb] = i % 2 === 0 ? await Promise.all([joinRequest(alice, roomId), joinRequest(bob, roomId)]) : await Promise.all([joinRequest(bob, roomId), joinRequest(alice, roomId)]).then(([b, a]) => [a, b] as const);
      expect([ja.memberId, jb.memberId].sort()).toEqual([1, 2]);
      const first = ja.memberId === 1 ? ja : jb;
      // The later joiner sees both, with the same distributor; the first learns the second through roomMembers.
      const second = first === ja ? jb : ja;
      expect(second.members.map((m) => m.memberId)).toEqual([1, 2]);
      expect(second.distributor).toBe(1);
      const claim = await owner(roomId);
      expect(['A', 'B']).toContain(claim.owner);
      const holder = servers.get(claim.owner!)!;
      expect(holder.core.hasRoom(roomId)).toBe(true);
      expect(servers.get(claim.owner === 'A' ? 'B' : 'A')!.core.hasRoom(roomId)).toBe(false);
      alice.send({ type: 'leaveRoom', roomId });
      bob.send({ type: 'leaveRoom', roomId });
      await expect.poll(() => owner(roomId), { timeout: 20_000 }).toEqual({});
    }
  });

  it('the owner missed its heartbeats and another instance took the room: the owner drops it, every member is told room-lost', async () => {
    const alice = await raw('A', 'alice', 'stolen');
    const bob = await raw('B', 'bob', 'stolen');
    await standIns('A', 1);
    await joinRequest(alice, 'stolen');
    await joinRequest(bob, 'stolen');
    expect((await owner('stolen')).owner).toBe('A');
    // What a takeover leaves in Redis (Z claimed it while A's key had expired).
    await db.hSet('mtcall:room:stolen', { owner: 'Z/0', gen: '1000' });
    for (const r of [alice, bob]) expect(await r.next((m) => m.type === 'error' && m.code === 'room-lost', 20_000)).toMatchObject({ roomId: 'stolen' });
    expect(servers.get('A')!.core.hasRoom('stolen')).toBe(false);
    expect(servers.get('B')!.cluster!.stats.remoteRooms).toBe(0);
    // Both may join elsewhere at once (Z is not alive: the next claim takes it over, a new generation).
    await db.hDel('mtcall:room:stolen', 'owner');
    const again = await joinRequest(bob, 'stolen');
    expect(again.memberId).toBe(1);
    expect(await owner('stolen')).toMatchObject({ owner: 'B' });
    bob.send({ type: 'leaveRoom', roomId: 'stolen' });
  });

  it('the owner dies: members elsewhere are told room-lost and join again on a survivor (takeover, next generation); other rooms carry on', async () => {
    const doomed = await startInstance('D');
    const dave = await raw('D', 'dave', 'doom');
    const erin = await raw('A', 'erin', 'doom');
    const frank = await raw('B', 'frank', 'doom');
    const gina = await raw('C', 'gina', 'doom');
    await standIns('A', 3);
    await standIns('D', 3);
    await joinRequest(dave, 'doomed');
    await joinRequest(erin, 'doomed');
    expect(await owner('doomed')).toMatchObject({ owner: 'D' });
    const doomedGen = (await owner('doomed')).gen!;
    await joinRequest(frank, 'safe');
    const jg = await joinRequest(gina, 'safe');
    const safeOwner = (await owner('safe')).owner;

    await doomed.close();
    servers.delete('D');
    expect(await erin.next((m) => m.type === 'error' && m.code === 'room-lost', 20_000)).toMatchObject({ roomId: 'doomed' });
    await expect.poll(() => owner('doomed'), { timeout: 20_000 }).toEqual({});
    const again = await joinRequest(erin, 'doomed');
    expect(again).toMatchObject({ memberId: 1, distributor: 1, members: [{ userId: 'erin' }] });
    expect(await owner('doomed')).toMatchObject({ owner: 'A' });
    expect((await owner('doomed')).gen).toBeGreaterThan(doomedGen);

    // The other room never noticed: same owner, its room code still relayed, nobody told room-lost.
    expect((await owner('safe')).owner).toBe(safeOwner);
    const value = bytesToBase64(sha256(new Uint8Array([3])));
    gina.send({ type: 'roomCode', roomId: 'safe', epoch: 1, step: 'commit', value });
    expect(await frank.next('roomCode', 20_000)).toMatchObject({ from: jg.memberId, value });
    for (const r of [frank, gina]) expect(r.received.some((m) => m.type === 'error')).toBe(false);
    for (const r of [erin, frank, gina]) r.send({ type: 'leaveRoom', roomId: r === erin ? 'doomed' : 'safe' });
  });
});

describe('a member whose connection drops resumes its membership on any instance', () => {
  /** Connects with a hello (resuming when `resume` is given); returns the client and its welcome. */
  async function hello(at: string, userId: string, deviceId: string, resume?: string) {
    const r = await RawClient.connect(servers.get(at)!.url);
    raws.push(r);
    r.send({ type: 'hello', protocol: 1, userId, deviceId, ...(resume !== undefined ? { resume } : {}) });
    return { r, welcome: await r.next('welcome', 20_000) };
  }

  it('bob (on B, room on A) drops and comes back on C, then on C again: the same member, roomResumed, nobody else notices', async () => {
    const alice = await raw('A', 'alice', 'moving');
    let bob = await hello('B', 'bob', 'moving');
    await standIns('A', 1);
    await joinRequest(alice, 'moving');
    const jb = await joinRequest(bob.r, 'moving');
    expect(jb.memberId).toBe(2);
    await alice.next('roomMembers', 20_000);
    for (const at of ['C', 'C']) {
      const token = bob.welcome.resumeToken!;
      bob.r.close();
      await bob.r.closed;
      bob = await hello(at, 'bob', 'moving', token);
      expect(bob.welcome.resumedRoom).toBe('moving');
      expect(await bob.r.next('roomResumed', 20_000)).toMatchObject({ roomId: 'moving', memberId: 2, distributor: 1, members: [{ memberId: 1 }, { memberId: 2 }] });
      // The room code reaches bob where he is now, and his reaches alice.
      const value = bytesToBase64(sha256(new TextEncoder().encode(at)));
      alice.send({ type: 'roomCode', roomId: 'moving', epoch: 1, step: 'commit', value });
      expect(await bob.r.next('roomCode', 20_000)).toMatchObject({ from: 1, value });
      bob.r.send({ type: 'roomCode', roomId: 'moving', epoch: 1, step: 'reveal', value });
      expect(await alice.next('roomCode', 20_000)).toMatchObject({ from: 2, value });
    }
    expect(alice.received.some((m) => m.type === 'roomMembers' || m.type === 'error')).toBe(false);
    expect(servers.get('C')!.cluster!.stats.remoteRooms).toBeGreaterThanOrEqual(1);
    bob.r.send({ type: 'leaveRoom', roomId: 'moving' });
    expect(await alice.next('roomMembers', 20_000)).toMatchObject({ left: 2 });
    alice.send({ type: 'leaveRoom', roomId: 'moving' });
  });
});

describe('room claims in Redis, forced races on the scripts themselves', () => {
  // Each instance's process here is its incarnation `<id>/1` (a restart: `<id>/2`).
  const claim = (client: ReturnType<typeof createClient>, prefix: string, instance: string, roomId: string, boot = 1) =>
    client.eval(ROOM_CLAIM, { keys: [`${prefix}room:${roomId}`], arguments: [prefix, `${instance}/${boot}`, roomId, instance] }) as Promise<[string, string]>;
  const heartbeat = (client: ReturnType<typeof createClient>, prefix: string, instance: string, boot = 1) =>
    client.eval(HEARTBEAT_AND_SWEEP, { keys: [`${prefix}dir`, `${prefix}instances`], arguments: [prefix, instance, '60000', `${instance}/${boot}`] }) as Promise<string[]>;
  const alive = (prefix: string, instance: string, boot = 1) => db.set(`${prefix}alive:${instance}`, `${instance}/${boot}`, { PX: 60_000 });

  it('three instances claim the same 40 rooms at once, each on its own connection: exactly one holder per room', async () => {
    const prefix = 'race:';
    const clients = await Promise.all(['X', 'Y', 'Z'].map(async () => {
      const c = db.duplicate();
      c.on('error', () => {});
      await c.connect();
      return c;
    }));
    onExit.push(() => Promise.all(clients.map((c) => c.close())));
    for (const id of ['X', 'Y', 'Z']) await alive(prefix, id);
    const rooms = Array.from({ length: 40 }, (_, i) => `r${i}`);
    // Every claim is sent before any reply is read: the three connections interleave in Redis.
    const replies = await Promise.all(rooms.map((room, i) => Promise.all(['X', 'Y', 'Z'].map((id, j) => claim(clients[(i + j) % 3]!, prefix, id, room)))));
    const holders = new Set<string>();
    const generations = new Set<string>();
    for (const [i, room] of rooms.entries()) {
      const [first, ...others] = replies[i]!;
      for (const reply of others) expect(reply).toEqual(first);
      generations.add(first![1]);
      holders.add(first![0]);
      for (const id of ['X', 'Y', 'Z']) expect(Number(await db.sIsMember(`${prefix}rooms:${id}`, room))).toBe(`${id}/1` === first![0] ? 1 : 0);
    }
    expect(holders.size).toBeGreaterThanOrEqual(1);
    expect(generations.size).toBe(40); // one counter: no two claims share a generation
  });

  it('a takeover racing the late heartbeat of the holder, in both orders, and the sweep of a dead holder', async () => {
    // Takeover first: X's key expired, Y takes the room (generation 2); X's late heartbeat reports it lost.
    let prefix = 'late1:';
    await alive(prefix, 'X');
    expect(await claim(db, prefix, 'X', 'r')).toEqual(['X/1', '1']);
    await db.del(`${prefix}alive:X`);
    await alive(prefix, 'Y');
    expect(await claim(db, prefix, 'Y', 'r')).toEqual(['Y/1', '2']);
    expect(await heartbeat(db, prefix, 'X')).toEqual(['r']);
    expect(await claim(db, prefix, 'X', 'r')).toEqual(['Y/1', '2']); // X, alive again, does not take it back
    expect(Number(await db.sIsMember(`${prefix}rooms:X`, 'r'))).toBe(0);

    // Heartbeat first: X is alive again before Y tries; Y is told X holds it, nothing changes.
    prefix = 'late2:';
    await alive(prefix, 'X');
    expect(await claim(db, prefix, 'X', 'r')).toEqual(['X/1', '1']);
    await db.del(`${prefix}alive:X`);
    expect(await heartbeat(db, prefix, 'X')).toEqual([]);
    expect(await claim(db, prefix, 'Y', 'r')).toEqual(['X/1', '1']);

    // The sweep: Y notices X dead, frees its room (the key deleted) and says so once; X's late beat reports it lost.
    prefix = 'late3:';
    const gone: string[] = [];
    const sub = db.duplicate();
    sub.on('error', () => {});
    await sub.connect();
    onExit.push(() => sub.close());
    await sub.subscribe(`${prefix}delta`, (text) => gone.push(text));
    await heartbeat(db, prefix, 'X');
    expect(await claim(db, prefix, 'X', 'r')).toEqual(['X/1', '1']);
    await db.del(`${prefix}alive:X`);
    expect(await heartbeat(db, prefix, 'Y')).toEqual([]);
    expect(await db.exists(`${prefix}room:r`)).toBe(0);
    await expect.poll(() => gone.map((text) => JSON.parse(text) as unknown)).toEqual([{ op: 'gone', instance: 'X' }]);
    expect(await heartbeat(db, prefix, 'X')).toEqual(['r']);
    expect(await claim(db, prefix, 'Y', 'r')).toEqual(['Y/1', '2']);
  });
  it('an instance restarted under the same id within its TTL frees what its previous process left, and says gone once; a release deletes the key', async () => {
    const prefix = 'restart:';
    const deltas: unknown[] = [];
    const sub = db.duplicate();
    sub.on('error', () => {});
    await sub.connect();
    onExit.push(() => sub.close());
    await sub.subscribe(`${prefix}delta`, (text) => deltas.push(JSON.parse(text)));
    const start = (instance: string) => db.eval(INCARNATION_START, { keys: [`${prefix}dir`, `${prefix}instances`], arguments: [prefix, instance] });
    expect(await start('X')).toBe(0); // a first start: nothing to free, nothing said
    await heartbeat(db, prefix, 'X');
    await heartbeat(db, prefix, 'Y');
    expect(await claim(db, prefix, 'X', 'r')).toEqual(['X/1', '1']);
    await db.hSet(`${prefix}dir`, 'u\u0000d', 'X hash');
    await db.sAdd(`${prefix}devices:X`, 'u\u0000d');
    // Without the start, the restarted process's heartbeat alone already makes the old claim another holder's: reported lost.
    await alive(prefix, 'X', 2);
    expect(await claim(db, prefix, 'Y', 'r')).toEqual(['Y/1', '2']);
    expect(await db.eval(ROOM_RELEASE, { keys: [`${prefix}room:r`], arguments: [prefix, 'X/1', 'r', 'X'] })).toBe(0); // not X/1's any more
    expect(await db.eval(ROOM_RELEASE, { keys: [`${prefix}room:r`], arguments: [prefix, 'Y/1', 'r', 'Y'] })).toBe(1);
    expect(await db.exists(`${prefix}room:r`)).toBe(0);
    // X/1 holds a room again (X/2 not started yet): the restart's start frees it, its device, and says gone.
    await alive(prefix, 'X', 1);
    expect(await claim(db, prefix, 'X', 'r')).toEqual(['X/1', '3']);
    expect(await start('X')).toBe(1);
    expect(await db.exists([`${prefix}room:r`, `${prefix}rooms:X`, `${prefix}alive:X`, `${prefix}devices:X`])).toBe(0);
    expect(await db.hGetAll(`${prefix}dir`)).toEqual({});
    await expect.poll(() => deltas).toEqual([{ op: 'down', userId: 'u', deviceId: 'd', instance: 'X' }, { op: 'gone', instance: 'X' }]);
    expect(await heartbeat(db, prefix, 'X', 2)).toEqual([]);
    expect(await claim(db, prefix, 'X', 'r', 2)).toEqual(['X/2', '4']);
  });
  it('an exception while handling a heartbeat reply is logged (cluster-error) and the instance keeps beating', async () => {
    const prefix = 'fault:';
    const core = new SignalingServerCore({ dhConfig: DEFAULT_DH_CONFIG, ...DEFAULT_SERVER_LIMITS, rateLimit: { ...DEFAULT_SERVER_LIMITS.rateLimit } });
    const node = new ClusterNode(core, { instanceId: 'H', instanceTtlMs: 60_000 }, Date.now());
    let throws = true;
    const roomsLost = node.roomsLost.bind(node);
    node.roomsLost = (...args) => {
      if (throws) throw new Error('injected fault');
      return roomsLost(...args);
    };
    const logs: ServerLogEntry[] = [];
    const link = await connectRedisCluster(node, { url: redis.url, prefix, instanceTtlMs: 60_000, log: (entry) => logs.push(entry) });
    onExit.push(() => link.leave());
    await db.sAdd(`${prefix}rooms:H`, 'ghost'); // a claim it no longer holds: the next beat reports it lost
    link.tick(Date.now() + 60_000);
    await expect.poll(() => logs.filter((e) => e.event === 'cluster-error')).toMatchObject([{ detail: expect.stringContaining('injected fault') }]);
    throws = false;
    await db.sAdd(`${prefix}rooms:H`, 'ghost2');
    link.tick(Date.now() + 120_000);
    await expect.poll(() => db.sMembers(`${prefix}rooms:H`)).toEqual([]);
    expect(await db.get(`${prefix}alive:H`)).toBe(link.incarnation);
  });
});
