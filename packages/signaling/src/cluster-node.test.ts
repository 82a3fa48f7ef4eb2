import { describe, expect, it } from 'vitest';
import { bytesToBase64, randomBytes, sha256 } from '@mtcall/crypto';
import { ClusterConfigError, ClusterNode } from './cluster-node.js';
import { MemoryCluster } from './test-support/memory-cluster.js';
import { DEFAULT_DH_CONFIG, DEFAULT_SERVER_LIMITS, SignalingServerCore } from './server.js';

const gA = randomBytes(256);
const gAHash = bytesToBase64(sha256(gA));
const gB = bytesToBase64(randomBytes(256));

function cluster(...ids: string[]): MemoryCluster {
  const c = new MemoryCluster();
  for (const id of ids) c.add(id);
  c.run();
  return c;
}

/** Instances A, B and C; A keeps the secret chats. */
function chats(): MemoryCluster {
  const c = new MemoryCluster();
  for (const id of ['A', 'B', 'C']) c.add(id, { chatInstance: 'A' });
  c.run();
  return c;
}

/** alice@A calls bob, whose devices are given; returns the call id once every device rings. */
function ring(c: MemoryCluster, alice: number): string {
  c.send('A', alice, { type: 'requestCall', requestId: 'r1', calleeId: 'bob', gAHash, video: false });
  c.run();
  return c.got('A', alice, 'callRequested')[0]!.callId;
}

function establish(c: MemoryCluster): { alice: number; bob: number; callId: string } {
  const alice = c.connect('A', 'alice', 'a1');
  const bob = c.connect('B', 'bob', 'phone');
  c.run();
  const callId = ring(c, alice);
  c.send('B', bob, { type: 'acceptCall', callId, gB });
  c.run();
  c.send('A', alice, { type: 'confirmCall', callId, gA: bytesToBase64(gA), keyFingerprint: '42' });
  c.run();
  expect(c.got('B', bob, 'phoneCall')).toHaveLength(1);
  return { alice, bob, callId };
}

describe('ClusterNode (in-memory bus)', () => {
  it('a caller on A rings the callee on B and C; B answers, C hears "answered elsewhere"; signaling crosses both ways', () => {
    const c = cluster('A', 'B', 'C');
    const alice = c.connect('A', 'alice', 'a1');
    const phone = c.connect('B', 'bob', 'phone');
    const laptop = c.connect('C', 'bob', 'laptop');
    c.run();
    const callId = ring(c, alice);
    expect(c.got('A', alice, 'callRequested')[0]!.devices).toBe(2);
    expect(c.got('B', phone, 'phoneCallRequested')[0]).toMatchObject({ callId, callerId: 'alice' });
    expect(c.got('C', laptop, 'phoneCallRequested')[0]).toMatchObject({ callId, callerId: 'alice' });
    c.send('B', phone, { type: 'acceptCall', callId, gB });
    c.run();
    expect(c.got('A', alice, 'phoneCallAccepted')).toEqual([{ type: 'phoneCallAccepted', callId, gB }]);
    expect(c.got('C', laptop, 'phoneCallDiscarded')).toEqual([{ type: 'phoneCallDiscarded', callId, reason: 'answered-elsewhere' }]);
    c.send('A', alice, { type: 'confirmCall', callId, gA: bytesToBase64(gA), keyFingerprint: '42' });
    c.send('A', alice, { type: 'signalingData', callId, data: 'AAAA' });
    c.run();
    expect(c.got('B', phone, 'phoneCall')[0]).toMatchObject({ callId, keyFingerprint: '42' });
    expect(c.got('B', phone, 'signalingData')).toEqual([{ type: 'signalingData', callId, data: 'AAAA' }]);
    c.send('B', phone, { type: 'signalingData', callId, data: 'BBBB' });
    c.send('B', phone, { type: 'discardCall', callId, reason: 'hangup' });
    c.run();
    expect(c.got('A', alice, 'signalingData')).toEqual([{ type: 'signalingData', callId, data: 'BBBB' }]);
    expect(c.got('A', alice, 'phoneCallDiscarded')[0]).toMatchObject({ callId, reason: 'hangup' });
    expect(c.nodes.get('B')!.stats.remoteCalls).toBe(0);
  });

  it('forced races: two accepts on two instances, in either order, exactly one wins (decided at the caller\'s home)', () => {
    const c = cluster('A', 'B', 'C');
    const alice = c.connect('A', 'alice', 'a1');
    const phone = c.connect('B', 'bob', 'phone');
    const laptop = c.connect('C', 'bob', 'laptop');
    c.run();
    for (let round = 0; round < 25; round++) {
      const before = c.got('A', alice, 'phoneCallAccepted').length;
      c.send('A', alice, { type: 'requestCall', requestId: `r${round}`, calleeId: 'bob', gAHash, video: false });
      c.run();
      const callId = c.got('A', alice, 'callRequested').at(-1)!.callId;
      // Both accept before either instance hears anything: both frames are in flight to A at once.
      c.send('B', phone, { type: 'acceptCall', callId, gB });
      c.send('C', laptop, { type: 'acceptCall', callId, gB });
      expect(c.pending).toHaveLength(2);
      if (round % 2 === 1) c.pending.reverse();
      c.run();
      expect(c.got('A', alice, 'phoneCallAccepted').length - before).toBe(1);
      const loser = round % 2 === 1 ? { at: 'B', id: phone } : { at: 'C', id: laptop };
      expect(c.got(loser.at, loser.id, 'phoneCallDiscarded').filter((m) => m.callId === callId)).toEqual([{ type: 'phoneCallDiscarded', callId, reason: 'answered-elsewhere' }]);
      expect(c.got(loser.at, loser.id, 'error').filter((m) => m.callId === callId)).toHaveLength(1);
      c.send('A', alice, { type: 'discardCall', callId, reason: 'hangup' });
      c.run();
    }
  });

  it('presence crosses instances: one delta per change, told to the local watchers', () => {
    const c = cluster('A', 'B');
    const watcher = c.connect('A', 'alice', 'a1', { });
    c.send('A', watcher, { type: 'watch', users: ['bob'] });
    c.run();
    const bob = c.connect('B', 'bob', 'phone');
    c.run();
    expect(c.got('A', watcher, 'presenceUpdate').at(-1)).toMatchObject({ userId: 'bob', devices: 1 });
    c.disconnect('B', bob);
    c.run();
    expect(c.got('A', watcher, 'presenceUpdate').at(-1)).toMatchObject({ userId: 'bob', devices: 0 });
  });

  it('an instance that dies: its devices expire by TTL on the others', () => {
    const c = cluster('A', 'B');
    const watcher = c.connect('A', 'alice', 'a1');
    c.send('A', watcher, { type: 'watch', users: ['bob'] });
    c.connect('B', 'bob', 'phone');
    c.run();
    expect(c.nodes.get('A')!.stats.standIns).toBe(1);
    c.kill('B');
    c.advance(c.ttlMs / 2);
    expect(c.nodes.get('A')!.stats.standIns).toBe(1);
    c.advance(c.ttlMs);
    expect(c.nodes.get('A')!.stats.standIns).toBe(0);
    expect(c.directory.size).toBe(1);
    expect(c.got('A', watcher, 'presenceUpdate').at(-1)).toMatchObject({ userId: 'bob', devices: 0 });
  });

  it('a device whose instance died resumes its call on another instance (before or after the TTL)', () => {
    for (const wait of [0, 5_000]) {
      const c = cluster('A', 'B', 'C');
      const { alice, bob, callId } = establish(c);
      const token = c.got('B', bob, 'welcome')[0]!.resumeToken!;
      c.kill('B');
      c.advance(wait);
      const again = c.connect('C', 'bob', 'phone', { resume: token });
      c.run();
      expect(c.got('C', again, 'callRejoined')).toEqual([{ type: 'callRejoined', callId }]);
      c.send('A', alice, { type: 'signalingData', callId, data: 'CCCC' });
      c.send('C', again, { type: 'signalingData', callId, data: 'DDDD' });
      c.run();
      expect(c.got('C', again, 'signalingData')).toEqual([{ type: 'signalingData', callId, data: 'CCCC' }]);
      expect(c.got('A', alice, 'signalingData')).toEqual([{ type: 'signalingData', callId, data: 'DDDD' }]);
      expect(c.got('A', alice, 'phoneCallDiscarded')).toEqual([]);
    }
  });

  it('a reconnect elsewhere with a wrong resume token does not take the call over', () => {
    const c = cluster('A', 'B', 'C');
    const { alice, callId } = establish(c);
    c.kill('B');
    const again = c.connect('C', 'bob', 'phone', { resume: 'not-the-token' });
    c.run();
    expect(c.got('C', again, 'callRejoined')).toEqual([]);
    c.send('A', alice, { type: 'signalingData', callId, data: 'CCCC' });
    c.run();
    expect(c.got('C', again, 'signalingData')).toEqual([]);
  });

  it('a device moving between live instances is closed on the old one', () => {
    const c = cluster('A', 'B');
    const first = c.connect('A', 'bob', 'phone');
    c.run();
    c.connect('B', 'bob', 'phone');
    c.run();
    expect(c.connections.get('A')!.get(first)!.closed?.code).toBe(4002);
    expect(c.directory.get('bob\u0000phone')?.instance).toBe('B');
  });

  it('refuses a bad instance id or TTL with a typed error', () => {
    const core = new SignalingServerCore({ dhConfig: DEFAULT_DH_CONFIG, ...DEFAULT_SERVER_LIMITS, rateLimit: { ...DEFAULT_SERVER_LIMITS.rateLimit } });
    expect(() => new ClusterNode(core, { instanceId: 'a b', instanceTtlMs: 3000 }, 0)).toThrow(ClusterConfigError);
    expect(() => new ClusterNode(core, { instanceId: 'a', instanceTtlMs: 10 }, 0)).toThrow(ClusterConfigError);
  });
});

describe('ClusterNode: secret chats through the chat instance (in-memory bus)', () => {
  const chatId = (c: MemoryCluster, at: string, id: number) => c.got(at, id, 'chatCreated')[0]!.chatId;
  for (const first of ['B', 'C'] as const) {
    it(`bob's devices on B and C race to accept alice's request (from B): ${first} wins, the other is told, qts from one counter`, () => {
      const c = chats();
      const alice = c.connect('B', 'alice', 'a1');
      const phone = c.connect('B', 'bob', 'phone');
      const laptop = c.connect('C', 'bob', 'laptop');
      c.run();
      c.send('B', alice, { type: 'chatRequest', requestId: 'r1', userId: 'bob', gA: gB });
      c.run();
      const id = chatId(c, 'B', alice);
      expect(c.got('B', phone, 'chatUpdate').map((u) => u.update.kind)).toEqual(['requested']);
      expect(c.got('C', laptop, 'chatUpdate').map((u) => u.update.kind)).toEqual(['requested']);
      // Both accepts are in flight before either reaches A.
      c.send('B', phone, { type: 'chatAccept', chatId: id, gB, keyFingerprint: '1' });
      c.send('C', laptop, { type: 'chatAccept', chatId: id, gB, keyFingerprint: '2' });
      if (first === 'C') c.pending.reverse();
      c.run();
      const [winner, loser] = first === 'B' ? [['B', phone], ['C', laptop]] as const : [['C', laptop], ['B', phone]] as const;
      expect(c.got(winner[0], winner[1], 'error')).toEqual([]);
      expect(c.got(loser[0], loser[1], 'error').map((e) => e.code)).toEqual(['chat-wrong-state']);
      expect(c.got(loser[0], loser[1], 'chatUpdate').map((u) => u.update)).toContainEqual({ kind: 'discarded', chatId: id, reason: 'accepted-elsewhere' });
      expect(c.got('B', alice, 'chatUpdate').map((u) => [u.qts, u.update.kind])).toEqual([[1, 'accepted']]);
      // The only store is A's; B's and C's hold nothing.
      expect(c.nodes.get('A')!.core.chatStore.getChat(id)?.participantDevice).toBe(first === 'B' ? 'bob/phone' : 'bob/laptop');
      expect(c.nodes.get('B')!.core.chatStore.getChat(id)).toBeUndefined();
      expect(c.nodes.get('C')!.core.chatStore.getChat(id)).toBeUndefined();
    });
  }

  it('the chat instance dead: a chat frame gets chats-unavailable with its ids, nothing else happens', () => {
    const c = chats();
    const alice = c.connect('B', 'alice', 'a1');
    c.run();
    c.kill('A');
    c.send('B', alice, { type: 'chatSend', requestId: 's1', chatId: 'c'.repeat(32), data: gB });
    c.run();
    expect(c.got('B', alice, 'error')).toEqual([expect.objectContaining({ code: 'chats-unavailable', requestId: 's1', chatId: 'c'.repeat(32) })]);
    // A call frame to a dead instance is not answered that way (calls have their own timeouts).
    expect(c.nodes.get('B')!.unrouted('C', { kind: 'frame', from: 'B', device: { userId: 'alice', deviceId: 'a1' }, text: '{"type":"chatAck","qts":1}', bytes: 25 })).toEqual([]);
  });

  it('elected writer: with no writer a chat frame is refused here; the instance taking over serves the queues again, local and remote', () => {
    const c = chats();
    const alice = c.connect('B', 'alice', 'a1');
    const bob = c.connect('C', 'bob', 'b1');
    c.run();
    c.send('B', alice, { type: 'chatRequest', requestId: 'r1', userId: 'bob', gA: gB });
    c.run();
    const id = chatId(c, 'B', alice);
    c.send('C', bob, { type: 'chatAccept', chatId: id, gB, keyFingerprint: '1' });
    c.run();
    const store = c.nodes.get('A')!.core.chatStore; // what the new writer loads from Redis
    c.kill('A');
    c.nodes.get('B')!.setChatOwner(null);
    c.send('B', alice, { type: 'chatSend', requestId: 's1', chatId: id, data: gB });
    expect(c.pending).toEqual([]);
    expect(c.got('B', alice, 'error')).toEqual([expect.objectContaining({ code: 'chats-unavailable', requestId: 's1', chatId: id })]);
    // B takes the lease: it loads the store, C learns the holder; every device known to B gets its queue again.
    const b = c.nodes.get('B')!;
    b.core.useChatStore(store);
    c.nodes.get('C')!.setChatOwner('B');
    c.apply('B', b.takeChats(c.now));
    c.run();
    expect(c.got('B', alice, 'chatUpdate').map((u) => [u.qts, u.update.kind])).toEqual([[1, 'accepted'], [1, 'accepted']]);
    expect(c.got('C', bob, 'chatUpdate').map((u) => [u.qts, u.update.kind])).toEqual([[1, 'requested'], [1, 'requested']]);
    c.send('B', alice, { type: 'chatSend', requestId: 's2', chatId: id, data: gB });
    c.send('C', bob, { type: 'chatSend', requestId: 's3', chatId: id, data: gB });
    c.run();
    expect(c.got('C', bob, 'chatUpdate').map((u) => [u.qts, u.update.kind])).toEqual([[1, 'requested'], [1, 'requested'], [2, 'message']]);
    expect(c.got('C', bob, 'chatSent').map((m) => m.requestId)).toEqual(['s3']);
    expect(c.got('B', alice, 'chatUpdate').map((u) => [u.qts, u.update.kind]).at(-1)).toEqual([2, 'message']);
  });
});

describe('JSON escapes do not get a frame past the routing (security review)', () => {
  const raw = (c: MemoryCluster, at: string, id: number, text: string) => c.apply(at, c.nodes.get(at)!.receive(id, text, text.length, c.now));

  it('an escaped chat type is still forwarded to the chat instance: one qts counter, nothing kept elsewhere', () => {
    const c = chats();
    const mallory = c.connect('B', 'mallory', 'm1');
    const bob = c.connect('C', 'bob', 'b1');
    c.run();
    // "\u0063" is "c": the frame parses as chatRequest without containing the text "chat.
    raw(c, 'B', mallory, `{"type":"\\u0063hatRequest","requestId":"r1","userId":"bob","gA":"${bytesToBase64(gA)}"}`);
    c.run();
    expect(c.got('B', mallory, 'chatCreated')).toHaveLength(1);
    expect(c.got('C', bob, 'chatUpdate').map((u) => u.qts)).toEqual([1]);
    expect(c.nodes.get('A')!.core.chatStore.lastQts('bob/b1')).toBe(1); // numbered by the chat instance
    expect(c.nodes.get('B')!.core.chatStore.chatCount('mallory')).toBe(0); // nothing decided on B
  });

  it('an escaped roomId still goes through the room claim: the room has one owner', () => {
    const c = new MemoryCluster();
    for (const id of ['A', 'B']) c.add(id, { rooms: true });
    c.run();
    const alice = c.connect('A', 'alice', 'a1');
    const mallory = c.connect('B', 'mallory', 'm1');
    c.run();
    c.send('A', alice, { type: 'joinRoom', requestId: 'j1', roomId: 'r' });
    c.run();
    raw(c, 'B', mallory, `{"type":"joinRoom","requestId":"j2","room\\u0049d":"r"}`);
    c.run();
    expect(c.nodes.get('B')!.core.hasRoom('r')).toBe(false);
    expect(c.got('B', mallory, 'roomJoined').map((j) => j.memberId)).toEqual([2]); // a member of A's room
  });
});
