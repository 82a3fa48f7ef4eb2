import { describe, expect, it } from 'vitest';
import { MemoryCluster } from './test-support/memory-cluster.js';
import { DEFAULT_SERVER_LIMITS } from './server.js';

// Rooms across cluster nodes, sans-IO: an in-memory Redis whose claims, heartbeats and deliveries the test orders.

function cluster(...ids: string[]): MemoryCluster {
  const c = new MemoryCluster();
  for (const id of ids) c.add(id, { rooms: true });
  c.run();
  return c;
}

let requests = 0;
const join = (c: MemoryCluster, at: string, id: number, roomId: string) => c.send(at, id, { type: 'joinRoom', requestId: `j${++requests}`, roomId });
const joined = (c: MemoryCluster, at: string, id: number) => c.got(at, id, 'roomJoined').at(-1);
const lost = (c: MemoryCluster, at: string, id: number) => c.got(at, id, 'error').filter((e) => e.code === 'room-lost');

describe('rooms on a cluster (sans-IO)', () => {
  it('forced race: joins on A and B claim the same room, claims answered in either order: one owner, members 1 and 2, one distributor', () => {
    for (const order of ['A first', 'B first']) {
      const c = cluster('A', 'B');
      const alice = c.connect('A', 'alice', 'a1');
      const bob = c.connect('B', 'bob', 'b1');
      c.run();
      join(c, 'A', alice, 'r');
      join(c, 'B', bob, 'r');
      expect(c.pending.map((p) => p.kind)).toEqual(['claim', 'claim']);
      if (order === 'B first') c.pending.reverse();
      c.run();
      const winner = order === 'A first' ? 'A' : 'B';
      expect(c.holder('r')).toEqual({ owner: winner, gen: 1 });
      expect(c.nodes.get(winner)!.core.hasRoom('r')).toBe(true);
      expect(c.nodes.get(winner === 'A' ? 'B' : 'A')!.core.hasRoom('r')).toBe(false);
      const [ja, jb] = [joined(c, 'A', alice)!, joined(c, 'B', bob)!];
      expect([ja.memberId, jb.memberId].sort()).toEqual([1, 2]);
      expect(ja.distributor).toBe(1);
      expect(jb.distributor).toBe(1);
    }
  });

  it('a join forwarded to an owner that released the room meanwhile: it claims the room again (one generation on)', () => {
    const c = cluster('A', 'B');
    const alice = c.connect('A', 'alice', 'a1');
    const bob = c.connect('B', 'bob', 'b1');
    c.run();
    join(c, 'A', alice, 'r');
    c.run();
    join(c, 'B', bob, 'r');
    c.deliver(c.pending.shift()!); // B's claim: A holds it; B forwards the join to A
    expect(c.pending.map((p) => p.kind)).toEqual(['message']);
    c.send('A', alice, { type: 'leaveRoom', roomId: 'r' }); // A releases before the join arrives
    expect(c.holder('r')).toBeUndefined();
    c.run();
    expect(c.holder('r')).toEqual({ owner: 'A', gen: 2 });
    expect(joined(c, 'B', bob)).toMatchObject({ memberId: 1, distributor: 1 });
    expect(c.nodes.get('B')!.stats.remoteRooms).toBe(1);
  });

  it('the owner dies: after its TTL the members elsewhere are told room-lost; a join takes the room over', () => {
    const c = cluster('A', 'B', 'C');
    const alice = c.connect('A', 'alice', 'a1');
    const bob = c.connect('B', 'bob', 'b1');
    const carol = c.connect('C', 'carol', 'c1');
    c.run();
    for (const [at, id] of [['A', alice], ['B', bob], ['C', carol]] as const) {
      join(c, at, id, 'r');
      c.run();
    }
    expect(c.holder('r')).toEqual({ owner: 'A', gen: 1 });
    c.kill('A');
    c.advance(c.ttlMs / 2);
    expect(lost(c, 'B', bob)).toHaveLength(0);
    c.advance(c.ttlMs);
    for (const [at, id] of [['B', bob], ['C', carol]] as const) expect(lost(c, at, id)).toMatchObject([{ roomId: 'r' }]);
    expect(c.holder('r')).toBeUndefined();
    join(c, 'C', carol, 'r');
    join(c, 'B', bob, 'r');
    c.run();
    expect(c.holder('r')).toEqual({ owner: 'C', gen: 2 });
    expect(joined(c, 'C', carol)).toMatchObject({ memberId: 1 });
    expect(joined(c, 'B', bob)).toMatchObject({ memberId: 2, distributor: 1 });
  });

  it('takeover racing a late heartbeat: the stalled owner comes back, finds the room taken and drops it (its members told room-lost)', () => {
    const c = cluster('A', 'B');
    const alice = c.connect('A', 'alice', 'a1');
    const bob = c.connect('B', 'bob', 'b1');
    c.run();
    join(c, 'A', alice, 'r');
    c.run();
    join(c, 'B', bob, 'r');
    c.run();
    const a = c.nodes.get('A')!;
    c.kill('A'); // stalled: no heartbeat, deliveries to it lost
    c.advance(c.ttlMs * 2);
    expect(lost(c, 'B', bob)).toHaveLength(1);
    join(c, 'B', bob, 'r');
    c.run();
    expect(c.holder('r')).toEqual({ owner: 'B', gen: 2 });
    // A wakes up: its heartbeat reports the room lost; it drops it and tells its own member.
    c.nodes.set('A', a);
    c.advance(c.ttlMs);
    expect(a.core.hasRoom('r')).toBe(false);
    expect(a.stats.ownedRooms).toBe(0);
    expect(lost(c, 'A', alice)).toMatchObject([{ roomId: 'r' }]);
    expect(c.holder('r')).toEqual({ owner: 'B', gen: 2 });
    expect(c.nodes.get('B')!.core.hasRoom('r')).toBe(true);
  });

  it('the owner crashes and restarts under the same instance id within its TTL: its old rooms are freed, members elsewhere told room-lost, a join starts a new generation', () => {
    const c = cluster('A', 'B');
    const alice = c.connect('A', 'alice', 'a1');
    const bob = c.connect('B', 'bob', 'b1');
    c.run();
    join(c, 'A', alice, 'r');
    c.run();
    join(c, 'B', bob, 'r');
    c.run();
    expect(c.holder('r')).toEqual({ owner: 'A', gen: 1 });
    c.kill('A');
    c.add('A', { rooms: true }); // a new process, same id, long before the TTL
    c.run();
    expect(lost(c, 'B', bob)).toMatchObject([{ roomId: 'r' }]);
    expect(c.holder('r')).toBeUndefined();
    expect(c.directory.has('alice\u0000a1')).toBe(false);
    // bob joins again: a new session (the room is free: his own instance takes it), never not-in-room / already-in-room.
    join(c, 'B', bob, 'r');
    c.run();
    expect(c.holder('r')).toEqual({ owner: 'B', gen: 2 });
    expect(joined(c, 'B', bob)).toMatchObject({ memberId: 1, members: [{ memberId: 1 }] });
    expect(c.got('B', bob, 'error').filter((e) => e.code !== 'room-lost')).toEqual([]);
  });

  it('a stalled owner, swept, wakes and takes a local join before its overdue heartbeat: the old session is dropped, the join starts the new one', () => {
    const c = cluster('A', 'B');
    const alice = c.connect('A', 'alice', 'a1');
    const bob = c.connect('B', 'bob', 'b1');
    c.run();
    join(c, 'A', alice, 'r');
    c.run();
    join(c, 'B', bob, 'r');
    c.run();
    const a = c.nodes.get('A')!;
    c.kill('A'); // stalled
    c.advance(c.ttlMs * 2);
    expect(lost(c, 'B', bob)).toHaveLength(1);
    expect(c.holder('r')).toBeUndefined();
    // A wakes: a join from a local device arrives before its heartbeat (no tick yet).
    c.nodes.set('A', a);
    const carol = c.connect('A', 'carol', 'c1');
    c.run();
    join(c, 'A', carol, 'r');
    c.run();
    expect(c.holder('r')).toEqual({ owner: 'A', gen: 2 });
    expect(lost(c, 'A', alice)).toMatchObject([{ roomId: 'r' }]);
    // carol is alone in the new session: neither alice nor bob's stand-in (a ghost, maybe the distributor) is in it.
    expect(joined(c, 'A', carol)!.members.map((m) => m.memberId)).toEqual([joined(c, 'A', carol)!.memberId]);
    c.advance(1); // A's overdue heartbeat: it keeps the room
    expect(a.core.hasRoom('r')).toBe(true);
    join(c, 'B', bob, 'r');
    c.run();
    expect(joined(c, 'B', bob)!.members).toHaveLength(2);
  });

  it("a member's home dies unnoticed; it resumes on C at once: the owner's stand-in was still open, roomResumed from the room as it is", () => {
    const c = cluster('A', 'B', 'C');
    const alice = c.connect('A', 'alice', 'a1');
    const bob = c.connect('B', 'bob', 'b1');
    c.run();
    join(c, 'A', alice, 'r');
    c.run();
    join(c, 'B', bob, 'r');
    c.run();
    const token = c.got('B', bob, 'welcome')[0]!.resumeToken!;
    c.kill('B');
    const again = c.connect('C', 'bob', 'b1', { resume: token });
    c.run();
    expect(c.got('C', again, 'welcome')[0]).toMatchObject({ resumedRoom: 'r' });
    expect(c.got('C', again, 'roomResumed')).toMatchObject([{ roomId: 'r', memberId: 2, distributor: 1 }]);
    // B's TTL passes: its sweep does not touch bob, who is on C now; the room never saw him leave.
    c.advance(c.ttlMs * 2);
    expect(c.got('A', alice, 'roomMembers').filter((m) => m.left !== undefined)).toHaveLength(0);
    c.send('C', again, { type: 'roomCode', roomId: 'r', epoch: 1, step: 'commit', value: 'A'.repeat(43) + '=' });
    c.run();
    expect(c.got('A', alice, 'roomCode')).toMatchObject([{ from: 2 }]);
  });

  it('a member resuming a room that ended meanwhile is told room-lost by the owner', () => {
    const c = cluster('A', 'B', 'C');
    const alice = c.connect('A', 'alice', 'a1');
    const bob = c.connect('B', 'bob', 'b1');
    c.run();
    join(c, 'A', alice, 'r');
    c.run();
    join(c, 'B', bob, 'r');
    c.run();
    const token = c.got('B', bob, 'welcome')[0]!.resumeToken!;
    c.disconnect('B', bob);
    c.run();
    // While bob is away, the room ends (alice leaves; bob's parked place goes with it after the grace).
    c.send('A', alice, { type: 'leaveRoom', roomId: 'r' });
    c.advance(31_000);
    const again = c.connect('C', 'bob', 'b1', { resume: token });
    c.run();
    expect(c.got('C', again, 'welcome')[0]).toMatchObject({ resumedRoom: 'r' });
    expect(lost(c, 'C', again)).toMatchObject([{ roomId: 'r' }]);
    expect(c.nodes.get('C')!.stats.remoteRooms).toBe(0);
  });

  it("the owner dies and its own member reconnects elsewhere, before or after the TTL: told room-lost either way, never left waiting", () => {
    for (const wait of [0, 10_000]) {
      const c = cluster('A', 'B', 'C');
      const alice = c.connect('A', 'alice', 'a1');
      const bob = c.connect('B', 'bob', 'b1');
      c.run();
      join(c, 'A', alice, 'r');
      c.run();
      join(c, 'B', bob, 'r');
      c.run();
      const token = c.got('A', alice, 'welcome')[0]!.resumeToken!;
      c.kill('A');
      c.advance(wait);
      const again = c.connect('C', 'alice', 'a1', { resume: token });
      c.run();
      c.advance(c.ttlMs * 2);
      const welcome = c.got('C', again, 'welcome')[0]!;
      // Before the TTL, C still believes in the room (resumedRoom) and then says room-lost; after it, C knows better.
      if (wait === 0) expect(welcome.resumedRoom).toBe('r');
      else expect(welcome.resumedRoom).toBeUndefined();
      expect(lost(c, 'C', again)).toHaveLength(wait === 0 ? 1 : 0);
      expect(lost(c, 'B', bob)).toMatchObject([{ roomId: 'r' }]);
      expect(c.nodes.get('C')!.stats.remoteRooms).toBe(0);
    }
  });

  it('joins are charged to the rate limit before their claim: a flood costs Redis at most the burst', () => {
    const c = cluster('A', 'B');
    const mallory = c.connect('A', 'mallory', 'm1');
    c.run();
    for (let i = 0; i < 300; i++) join(c, 'A', mallory, `flood-${i}`);
    const claims = c.pending.filter((p) => p.kind === 'claim').length;
    expect(claims).toBeLessThanOrEqual(200);
    // The rest were refused (rate-limited, and past 100 refusals the connection is closed as abusive).
    expect(c.got('A', mallory, 'error').filter((e) => e.code === 'rate-limited')).toHaveLength(100);
    expect(c.connections.get('A')!.get(mallory)!.closed).toMatchObject({ reason: 'rate limit exceeded repeatedly' });
  });

  it('join and leave fresh room ids: past the per-device limit a minute, room-join-limit (no claim, no key); a minute later joins again; released rooms leave no key', () => {
    const c = cluster('A', 'B');
    const mallory = c.connect('A', 'mallory', 'm1');
    const alice = c.connect('A', 'alice', 'a1');
    c.run();
    for (let i = 0; i < 30; i++) {
      join(c, 'A', mallory, `fresh-${i}`);
      c.run();
      expect(joined(c, 'A', mallory)).toMatchObject({ roomId: `fresh-${i}` });
      c.send('A', mallory, { type: 'leaveRoom', roomId: `fresh-${i}` });
      c.run();
    }
    expect(c.rooms.size).toBe(0);
    join(c, 'A', mallory, 'fresh-30');
    expect(c.pending.filter((p) => p.kind === 'claim')).toHaveLength(0);
    expect(c.got('A', mallory, 'error').at(-1)).toMatchObject({ code: 'room-join-limit', roomId: 'fresh-30' });
    // Another device is not charged for it.
    join(c, 'A', alice, 'fresh-30');
    c.run();
    expect(joined(c, 'A', alice)).toMatchObject({ roomId: 'fresh-30' });
    c.advance(60_000);
    join(c, 'A', mallory, 'fresh-30');
    c.run();
    expect(joined(c, 'A', mallory)).toMatchObject({ roomId: 'fresh-30', memberId: 2 });
  });

  it('two quick joins on one connection (x, then y while x is being claimed): y is refused already-in-room, the connection is in one room', () => {
    for (const ownerOfX of ['A', 'B']) {
      const c = cluster('A', 'B');
      const alice = c.connect('A', 'alice', 'a1');
      const bob = c.connect('B', 'bob', 'b1');
      c.run();
      if (ownerOfX === 'B') {
        join(c, 'B', bob, 'x');
        c.run();
      }
      join(c, 'A', alice, 'x');
      join(c, 'A', alice, 'y');
      expect(c.pending.filter((p) => p.kind === 'claim')).toHaveLength(1);
      expect(c.got('A', alice, 'error').at(-1)).toMatchObject({ code: 'already-in-room', roomId: 'y' });
      c.run();
      expect(joined(c, 'A', alice)).toMatchObject({ roomId: 'x' });
      expect(c.holder('y')).toBeUndefined();
      expect(c.nodes.get('A')!.core.hasRoom('y')).toBe(false);
      // Left, it may join another.
      c.send('A', alice, { type: 'leaveRoom', roomId: 'x' });
      c.run();
      join(c, 'A', alice, 'y');
      c.run();
      expect(joined(c, 'A', alice)).toMatchObject({ roomId: 'y' });
    }
  });

  it('room frames for a room held elsewhere are charged at home before they are parsed or routed: an oversized one and a flood cost the owner nothing', () => {
    const c = cluster('A', 'B');
    const alice = c.connect('A', 'alice', 'a1');
    const bob = c.connect('B', 'bob', 'b1');
    c.run();
    join(c, 'B', bob, 'r');
    c.run();
    join(c, 'A', alice, 'r');
    c.run();
    expect(joined(c, 'A', alice)).toMatchObject({ roomId: 'r' });
    const routed = () => c.pending.filter((p) => p.kind === 'message').length;
    c.send('A', alice, { type: 'roomCode', roomId: 'r', epoch: 1, step: 'commit', value: 'x'.repeat(DEFAULT_SERVER_LIMITS.maxMessageBytes) });
    expect(routed()).toBe(0);
    expect(c.got('A', alice, 'error').at(-1)).toMatchObject({ code: 'frame-too-large' });
    for (let i = 0; i < 300; i++) c.send('A', alice, { type: 'requestKeyFrame', roomId: 'r', consumerId: 'c1' });
    expect(routed()).toBeLessThanOrEqual(200);
    expect(c.got('A', alice, 'error').filter((e) => e.code === 'rate-limited')).toHaveLength(100);
    expect(c.connections.get('A')!.get(alice)!.closed).toMatchObject({ reason: 'rate limit exceeded repeatedly' });
  });

  it("a member's directory entry names its room while it is in it, wherever the room is, and not after it left", () => {
    const c = cluster('A', 'B');
    const alice = c.connect('A', 'alice', 'a1');
    const bob = c.connect('B', 'bob', 'b1');
    c.run();
    const rooms: unknown[] = [];
    const apply = c.apply.bind(c);
    c.apply = (instance, outputs) => {
      for (const o of outputs) if (o.kind === 'register') rooms.push([o.delta.userId, o.delta.room ?? null]);
      apply(instance, outputs);
    };
    join(c, 'A', alice, 'r');
    c.run();
    join(c, 'B', bob, 'r');
    c.run();
    c.send('A', alice, { type: 'leaveRoom', roomId: 'r' });
    c.send('B', bob, { type: 'leaveRoom', roomId: 'r' });
    c.run();
    expect(rooms).toEqual([
      ['alice', { roomId: 'r', owner: 'A' }],
      ['bob', { roomId: 'r', owner: 'A' }],
      ['alice', null],
      ['bob', null],
    ]);
  });
});
