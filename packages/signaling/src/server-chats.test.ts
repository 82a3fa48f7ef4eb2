/** Secret chats on the server core (sans-IO, injected clock): queues, acks, expiry, offline delivery, caps, every error code. */
import { describe, expect, it } from 'vitest';
import { Rng, TIMEOUT, check, fuzz, report } from '@mtcall/testkit';
import { bytesToBase64, TELEGRAM_DH_GROUP } from '@mtcall/crypto';
import { SignalingServerCore, DEFAULT_SERVER_LIMITS, type ChatLimits, type ServerOutput } from './server-core.js';
import { CHAT_RETENTION_MS } from './server-chats.js';
import type { ChatUpdate, ServerMessage } from './protocol.js';

const DAY = 24 * 60 * 60 * 1000;
const gA = bytesToBase64(new Uint8Array(256).fill(7));
const gB = bytesToBase64(new Uint8Array(256).fill(9));
const cipher = (n: number, fill = 0xab) => bytesToBase64(new Uint8Array(n).fill(fill));

/** A core, a clock, and devices as connections. */
function world(chatLimits: Partial<ChatLimits> = {}) {
  let now = 1_000_000;
  const core = new SignalingServerCore({
    dhConfig: { version: 1, p: TELEGRAM_DH_GROUP.p, g: TELEGRAM_DH_GROUP.g },
    ringTimeoutMs: DEFAULT_SERVER_LIMITS.ringTimeoutMs,
    confirmTimeoutMs: DEFAULT_SERVER_LIMITS.confirmTimeoutMs,
    maxMessageBytes: DEFAULT_SERVER_LIMITS.maxMessageBytes,
    rateLimit: { perSecond: 1e6, burst: 1e6, maxViolations: 1e6 },
    chatLimits,
  });
  let nextId = 1;
  const inbox = new Map<number, ServerMessage[]>();
  const collect = (outputs: ServerOutput[]) => {
    for (const o of outputs) if (o.kind === 'send') inbox.get(o.to)?.push(o.message);
  };
  const device = (userId: string, deviceId = 'd1') => {
    const id = nextId++;
    inbox.set(id, []);
    collect(core.open(id, now));
    const d = {
      id,
      send(message: Record<string, unknown>) {
        const text = JSON.stringify(message);
        collect(core.receive(id, text, text.length, now));
      },
      /** Messages received since the last call. */
      take(): ServerMessage[] {
        return inbox.get(id)!.splice(0);
      },
      updates(): { qts: number; update: ChatUpdate }[] {
        return d.take().flatMap((m) => (m.type === 'chatUpdate' ? [{ qts: m.qts, update: m.update }] : []));
      },
      errors(): string[] {
        return d.take().flatMap((m) => (m.type === 'error' ? [m.code] : []));
      },
      close() {
        collect(core.close(id, now));
      },
    };
    d.send({ type: 'hello', protocol: 1, userId, deviceId });
    return d;
  };
  return {
    core,
    device,
    advance(ms: number) {
      now += ms;
      collect(core.tick(now));
    },
    get now() {
      return now;
    },
  };
}

type Device = ReturnType<ReturnType<typeof world>['device']>;

/** alice requests, bob accepts: an established chat. */
function establish(w: ReturnType<typeof world>, alice: Device, bob: Device): string {
  alice.send({ type: 'chatRequest', requestId: 'r1', userId: 'bob', gA });
  const created = alice.take().find((m) => m.type === 'chatCreated') as Extract<ServerMessage, { type: 'chatCreated' }>;
  const [request] = bob.updates();
  expect(request!.update).toEqual({ kind: 'requested', chatId: created.chatId, fromUserId: 'alice', gA });
  bob.send({ type: 'chatAccept', chatId: created.chatId, gB, keyFingerprint: '-42' });
  const [accepted] = alice.updates();
  expect(accepted!.update).toEqual({ kind: 'accepted', chatId: created.chatId, gB, keyFingerprint: '-42' });
  void w;
  return created.chatId;
}

describe('secret chats on the server', () => {
  it('request → accept → messages both ways, each update numbered by the device qts; chatSent confirms storage', () => {
    const w = world();
    const alice = w.device('alice');
    const bob = w.device('bob');
    alice.take();
    bob.take();
    const chatId = establish(w, alice, bob);
    alice.send({ type: 'chatSend', requestId: 's1', chatId, data: cipher(64) });
    expect(alice.take()).toEqual([{ type: 'chatSent', requestId: 's1', chatId, date: w.now }]);
    bob.send({ type: 'chatSend', requestId: 's2', chatId, data: cipher(80, 1) });
    const toBob = bob.take().filter((m) => m.type === 'chatUpdate');
    expect(toBob).toEqual([{ type: 'chatUpdate', qts: 2, update: { kind: 'message', chatId, data: cipher(64) } }]);
    expect(alice.updates()).toEqual([{ qts: 2, update: { kind: 'message', chatId, data: cipher(80, 1) } }]);
    expect(w.core.stats.chatMessages).toBe(2);
  });

  it('the queue keeps updates until acked; a reconnect gets what was not acked, in order; ack deletes', () => {
    const w = world();
    const alice = w.device('alice');
    let bob = w.device('bob');
    alice.take();
    bob.take();
    const chatId = establish(w, alice, bob);
    bob.close();
    for (let i = 0; i < 5; i++) alice.send({ type: 'chatSend', requestId: `s${i}`, chatId, data: cipher(32, i) });
    expect(alice.take().filter((m) => m.type === 'chatSent')).toHaveLength(5); // stored while bob is offline
    bob = w.device('bob');
    const first = bob.updates();
    expect(first.map((u) => u.qts)).toEqual([1, 2, 3, 4, 5, 6]); // the request (never acked) and five messages
    expect(first.slice(1).map((u) => (u.update as { data: string }).data)).toEqual([0, 1, 2, 3, 4].map((i) => cipher(32, i)));
    bob.send({ type: 'chatAck', qts: 4 });
    expect(bob.errors()).toEqual([]);
    bob.close();
    bob = w.device('bob');
    expect(bob.updates().map((u) => u.qts)).toEqual([5, 6]);
    bob.send({ type: 'chatAck', qts: 6 });
    bob.close();
    bob = w.device('bob');
    expect(bob.updates()).toEqual([]);
    expect(w.core.stats.chatUpdatesAcked).toBe(6);
  });

  it('updates and files expire after 7 days (injected clock), and only then', () => {
    const w = world();
    const alice = w.device('alice');
    let bob = w.device('bob');
    alice.take();
    bob.take();
    const chatId = establish(w, alice, bob);
    bob.send({ type: 'chatAck', qts: 1 });
    bob.close();
    alice.send({ type: 'chatUploadPart', chatId, fileId: '0123456789abcdef', part: 0, data: cipher(32) });
    alice.send({ type: 'chatSend', requestId: 's1', chatId, data: cipher(32) });
    expect(w.core.nextWakeAt()).toBe(w.now + CHAT_RETENTION_MS - 0);
    w.advance(7 * DAY - 1);
    bob = w.device('bob');
    expect(bob.updates()).toHaveLength(1);
    bob.close();
    w.advance(2);
    bob = w.device('bob');
    expect(bob.updates()).toEqual([]);
    bob.send({ type: 'chatGetFilePart', chatId, fileId: '0123456789abcdef', part: 0 });
    expect(bob.errors()).toEqual(['unknown-file']);
    expect(w.core.chatStore.dump()).toEqual([]);
  });

  it('a request reaches every device of the user seen so far; the first accept wins, the others are told accepted-elsewhere', () => {
    const w = world();
    const alice = w.device('alice');
    const bob1 = w.device('bob', 'phone');
    const bob2 = w.device('bob', 'laptop');
    bob2.close(); // offline: its copy waits in its queue
    alice.send({ type: 'chatRequest', requestId: 'r1', userId: 'bob', gA });
    const { chatId } = alice.take().find((m) => m.type === 'chatCreated') as Extract<ServerMessage, { type: 'chatCreated' }>;
    expect(bob1.updates()[0]!.update.kind).toBe('requested');
    bob1.send({ type: 'chatAccept', chatId, gB, keyFingerprint: '1' });
    const laptop = w.device('bob', 'laptop');
    expect(laptop.updates().map((u) => u.update)).toEqual([
      { kind: 'requested', chatId, fromUserId: 'alice', gA },
      { kind: 'discarded', chatId, reason: 'accepted-elsewhere' },
    ]);
    laptop.send({ type: 'chatAccept', chatId, gB, keyFingerprint: '1' });
    expect(laptop.errors()).toEqual(['chat-wrong-state']);
    laptop.send({ type: 'chatSend', requestId: 'x', chatId, data: cipher(32) });
    expect(laptop.errors()).toEqual(['not-in-chat']);
  });

  it('a chatRequest sent again (its reply lost in a reconnect) gets the same chat and is queued once', () => {
    const w = world();
    const alice = w.device('alice');
    const bob = w.device('bob');
    bob.take();
    alice.send({ type: 'chatRequest', requestId: 'again', userId: 'bob', gA });
    alice.send({ type: 'chatRequest', requestId: 'again', userId: 'bob', gA });
    const created = alice.take().filter((m) => m.type === 'chatCreated') as Extract<ServerMessage, { type: 'chatCreated' }>[];
    expect(created).toHaveLength(2);
    expect(created[1]!.chatId).toBe(created[0]!.chatId);
    expect(bob.updates()).toHaveLength(1);
    expect(w.core.stats.chatsCreated).toBe(1);
  });

  it('discard tells the other end and forgets the chat', () => {
    const w = world();
    const alice = w.device('alice');
    const bob = w.device('bob');
    alice.take();
    bob.take();
    const chatId = establish(w, alice, bob);
    bob.send({ type: 'chatDiscard', chatId, reason: 'fingerprint-mismatch' });
    expect(alice.updates().map((u) => u.update)).toEqual([{ kind: 'discarded', chatId, reason: 'fingerprint-mismatch' }]);
    alice.send({ type: 'chatSend', requestId: 's', chatId, data: cipher(32) });
    expect(alice.errors()).toEqual(['unknown-chat']);
  });

  it('files: parts stored by id, downloadable by the other end, referenced by a message with their size', () => {
    const w = world();
    const alice = w.device('alice');
    const bob = w.device('bob');
    alice.take();
    bob.take();
    const chatId = establish(w, alice, bob);
    const fileId = 'aaaaaaaaaaaaaaaa';
    alice.send({ type: 'chatUploadPart', chatId, fileId, part: 0, data: cipher(32, 1) });
    alice.send({ type: 'chatUploadPart', chatId, fileId, part: 1, data: cipher(16, 2) });
    expect(alice.take()).toEqual([
      { type: 'chatPartSaved', chatId, fileId, part: 0 },
      { type: 'chatPartSaved', chatId, fileId, part: 1 },
    ]);
    alice.send({ type: 'chatSend', requestId: 's', chatId, data: cipher(64), file: { fileId, parts: 3, keyFingerprint: -5 } });
    expect(alice.errors()).toEqual(['unknown-file']); // part 2 missing
    alice.send({ type: 'chatSend', requestId: 's', chatId, data: cipher(64), file: { fileId, parts: 2, keyFingerprint: -5 } });
    expect(bob.updates().map((u) => u.update)).toEqual([{ kind: 'message', chatId, data: cipher(64), file: { fileId, parts: 2, size: 48, keyFingerprint: -5 } }]);
    bob.send({ type: 'chatGetFilePart', chatId, fileId, part: 1 });
    expect(bob.take()).toEqual([{ type: 'chatFilePart', chatId, fileId, part: 1, data: cipher(16, 2) }]);
    bob.send({ type: 'chatUploadPart', chatId, fileId, part: 2, data: cipher(16) });
    expect(bob.errors()).toEqual(['unknown-file']); // someone else's upload
  });

  it('caps: queue-full, too-many-chats, file-too-large, file-quota; a refusal changes nothing', () => {
    const w = world({ maxQueuePerDevice: 3, maxChatsPerUser: 1, maxFileParts: 2, maxFileBytesPerUser: 64, maxFilesPerUser: 1 });
    const alice = w.device('alice');
    const bob = w.device('bob');
    w.device('carol').close();
    alice.take();
    bob.take();
    const chatId = establish(w, alice, bob); // bob's queue: 1 (request), alice's: 1 (accepted)
    alice.send({ type: 'chatRequest', requestId: 'r2', userId: 'carol', gA });
    expect(alice.errors()).toEqual(['too-many-chats']);
    alice.send({ type: 'chatSend', requestId: 'a', chatId, data: cipher(16) });
    alice.send({ type: 'chatSend', requestId: 'b', chatId, data: cipher(16) });
    alice.take();
    bob.take();
    alice.send({ type: 'chatSend', requestId: 'c', chatId, data: cipher(16) });
    expect(alice.errors()).toEqual(['queue-full']);
    expect(w.core.chatStore.pending('bob/d1')).toHaveLength(3);
    bob.send({ type: 'chatAck', qts: 3 });
    alice.send({ type: 'chatSend', requestId: 'c', chatId, data: cipher(16) });
    expect(alice.take().map((m) => m.type)).toEqual(['chatSent']);
    const fileId = 'bbbbbbbbbbbbbbbb';
    alice.send({ type: 'chatUploadPart', chatId, fileId, part: 2, data: cipher(16) });
    expect(alice.errors()).toEqual(['file-too-large']);
    alice.send({ type: 'chatUploadPart', chatId, fileId, part: 0, data: cipher(15) });
    expect(alice.errors()).toEqual(['file-too-large']); // not whole AES blocks
    alice.send({ type: 'chatUploadPart', chatId, fileId, part: 0, data: cipher(48) });
    alice.send({ type: 'chatUploadPart', chatId, fileId, part: 1, data: cipher(32) });
    expect(alice.errors()).toEqual(['file-quota']); // 80 bytes > 64
    alice.send({ type: 'chatUploadPart', chatId, fileId: 'cccccccccccccccc', part: 0, data: cipher(16) });
    expect(alice.errors()).toEqual(['file-quota']); // a second file
    expect(w.core.chatStore.fileUsage('alice')).toEqual({ files: 1, bytes: 48 });
  });

  it('every other error code: unknown-user, self-chat, unknown-chat, not-in-chat, chat-wrong-state, bad-qts, invalid-message, not-authenticated', () => {
    const w = world();
    const alice = w.device('alice');
    const bob = w.device('bob');
    const eve = w.device('eve');
    alice.take();
    bob.take();
    eve.take();
    alice.send({ type: 'chatRequest', requestId: 'r', userId: 'nobody', gA });
    expect(alice.errors()).toEqual(['unknown-user']);
    alice.send({ type: 'chatRequest', requestId: 'r', userId: 'alice', gA });
    expect(alice.errors()).toEqual(['self-chat']);
    alice.send({ type: 'chatRequest', requestId: 'r', userId: 'bob', gA });
    const { chatId } = alice.take().find((m) => m.type === 'chatCreated') as Extract<ServerMessage, { type: 'chatCreated' }>;
    alice.send({ type: 'chatSend', requestId: 's', chatId, data: cipher(16) });
    expect(alice.errors()).toEqual(['chat-wrong-state']); // not accepted yet
    eve.send({ type: 'chatAccept', chatId, gB, keyFingerprint: '1' });
    expect(eve.errors()).toEqual(['not-in-chat']);
    eve.send({ type: 'chatDiscard', chatId, reason: 'local' });
    expect(eve.errors()).toEqual(['not-in-chat']);
    eve.send({ type: 'chatGetFilePart', chatId, fileId: 'aaaaaaaaaaaaaaaa', part: 0 });
    expect(eve.errors()).toEqual(['not-in-chat']);
    eve.send({ type: 'chatSend', requestId: 's', chatId: 'f'.repeat(32), data: cipher(16) });
    expect(eve.errors()).toEqual(['unknown-chat']);
    bob.send({ type: 'chatAck', qts: 2 });
    expect(bob.errors()).toEqual(['bad-qts']);
    expect(w.core.chatStore.pending('bob/d1')).toHaveLength(1); // unchanged
    for (const bad of [
      { type: 'chatRequest', requestId: 'r', userId: 'bob', gA: cipher(255) },
      { type: 'chatAccept', chatId, gB, keyFingerprint: '9223372036854775808' },
      { type: 'chatSend', requestId: 's', chatId: 'XYZ', data: cipher(16) },
      { type: 'chatSend', requestId: 's', chatId, data: cipher(16 * 1024 + 1) },
      { type: 'chatUploadPart', chatId, fileId: 'short', part: 0, data: cipher(16) },
      { type: 'chatUploadPart', chatId, fileId: 'aaaaaaaaaaaaaaaa', part: -1, data: cipher(16) },
      { type: 'chatAck', qts: 0 },
      { type: 'chatAck', qts: 1, extra: true },
    ]) {
      alice.send(bad);
      expect(alice.errors(), JSON.stringify(bad).slice(0, 80)).toEqual(['invalid-message']);
    }
    const anonymous = w.device('x');
    void anonymous;
    const errorsBefore = w.core.stats.errorsSent;
    // A connection that never said hello.
    const id = 999;
    const out = w.core.open(id, w.now).concat(w.core.receive(id, JSON.stringify({ type: 'chatAck', qts: 1 }), 30, w.now));
    expect(out.flatMap((o) => (o.kind === 'send' && o.message.type === 'error' ? [o.message.code] : []))).toEqual(['not-authenticated']);
    expect(w.core.stats.errorsSent).toBe(errorsBefore + 1);
  });

  it('the store holds public DH values and ciphertext only: what clients sent, byte for byte', () => {
    const w = world();
    const alice = w.device('alice');
    const bob = w.device('bob');
    bob.close();
    alice.send({ type: 'chatRequest', requestId: 'r', userId: 'bob', gA });
    expect(w.core.chatStore.dump().map((b) => bytesToBase64(b))).toEqual([gA]);
  });
});

describe('chat router fuzz', () => {
  it('a third device sending random chat frames (valid, mutated, foreign ids) never throws and never touches alice and bob\'s chat', { timeout: TIMEOUT }, () => {
    const counts: Record<string, number> = {};
    const done = fuzz(0xc4a7, 20_000, 500, (rng: Rng, index: number) => {
      // One world per batch: alice and bob chat; mallory (and a second mallory device) send anything.
      const w = (fuzzWorld ??= newFuzzWorld());
      if (index === 0) Object.assign(w, newFuzzWorld());
      const { alice, bob, mallory, chatId } = w;
      const chatIds = [chatId, ...w.malloryChats, 'f'.repeat(32)];
      const fileIds = ['aaaaaaaaaaaaaaaa', '0123456789abcdef', 'ffffffffffffffff'];
      const pickChat = () => (rng.chance(0.9) ? rng.pick(chatIds) : rng.pick(['', 'x', chatId.toUpperCase(), chatId + '0']));
      const frames: Record<string, unknown>[] = [
        { type: 'chatRequest', requestId: 'r' + rng.int(100), userId: rng.pick(['alice', 'bob', 'mallory', 'carol', 'carol', 'nobody', '']), gA: cipher(rng.pick([256, 256, 255]), rng.int(256)) },
        { type: 'chatAccept', chatId: pickChat(), gB, keyFingerprint: rng.pick(['1', '-1', '9223372036854775807', '9223372036854775808', 'x']) },
        { type: 'chatDiscard', chatId: pickChat(), reason: rng.pick(['local', 'x'.repeat(33), 'UPPER', '']) },
        { type: 'chatSend', requestId: 's', chatId: pickChat(), data: cipher(rng.pick([16, 1000, 16 * 1024, 16 * 1024 + 1])), ...(rng.chance(0.3) ? { file: { fileId: rng.pick(fileIds), parts: rng.int(4), keyFingerprint: rng.int(10) } } : {}) },
        { type: 'chatUploadPart', chatId: pickChat(), fileId: rng.pick(fileIds), part: rng.pick([0, 1, -1, 3199, 3200, 1.5]), data: cipher(rng.pick([16, 15, 0, 32 * 1024, 32 * 1024 + 16])) },
        { type: 'chatGetFilePart', chatId: pickChat(), fileId: rng.pick(fileIds), part: rng.int(3) },
        { type: 'chatAck', qts: rng.pick([0, 1, 2, 5, 1e6, -1, 2 ** 53]) },
      ];
      const frame = rng.pick(frames);
      if (rng.chance(0.2)) {
        const keys = Object.keys(frame).filter((k) => k !== 'type');
        const key = rng.pick(keys);
        if (key !== undefined) frame[key] = rng.pick([null, 0, '', [], {}, true, 'A'.repeat(rng.int(70))]);
      }
      if (rng.chance(0.05)) frame['extra'] = 1;
      const before = { toBob: w.core.chatStore.pending('bob/d1').length, toAlice: w.core.chatStore.pending('alice/d1').length };
      const sender = rng.chance(0.8) ? mallory : w.mallory2;
      sender.send(frame);
      for (const m of [...mallory.take(), ...w.mallory2.take()]) {
        counts[m.type === 'error' ? `error-${m.code}` : m.type] = (counts[m.type === 'error' ? `error-${m.code}` : m.type] ?? 0) + 1;
        if (m.type === 'chatCreated') w.malloryChats.push(m.chatId);
        if (m.type === 'chatUpdate' && m.update.kind === 'requested' && m.update.fromUserId === 'mallory' && rng.chance(0.8)) {
          w.mallory2.send({ type: 'chatAccept', chatId: m.update.chatId, gB, keyFingerprint: '7' });
        }
      }
      // Mallory may open (and discard) chats of its own with alice or bob, never reach into theirs.
      const afterBob = w.core.chatStore.pending('bob/d1');
      const afterAlice = w.core.chatStore.pending('alice/d1');
      for (const [list, was] of [[afterBob, before.toBob], [afterAlice, before.toAlice]] as const) {
        for (const item of list.slice(was)) check(item.update.chatId !== chatId && w.malloryChats.includes(item.update.chatId), () => `mallory's ${JSON.stringify(frame).slice(0, 120)} put ${item.update.kind} in an honest queue`);
      }
      // The honest chat still works both ways.
      if (index % 50 === 49) {
        alice.send({ type: 'chatSend', requestId: 'h', chatId, data: cipher(48, index & 0xff) });
        check(alice.take().some((m) => m.type === 'chatSent'), () => 'alice could not send');
        check(bob.updates().some((u) => u.update.kind === 'message' && u.update.data === cipher(48, index & 0xff)), () => 'bob did not get it');
        alice.take();
      }
      bob.take();
      alice.take();
    });
    report('chat router', counts);
    expect(done).toBeGreaterThanOrEqual(20_000);
    for (const code of ['invalid-message', 'not-in-chat', 'unknown-chat']) expect(counts[`error-${code}`], code).toBeGreaterThan(100);
  });
});

let fuzzWorld: ReturnType<typeof newFuzzWorld> | undefined;
function newFuzzWorld() {
  const w = world({ maxQueuePerDevice: 50, maxFileParts: 3200 });
  const alice = w.device('alice');
  const bob = w.device('bob');
  const mallory = w.device('mallory');
  const mallory2 = w.device('carol'); // mallory's accomplice: accepts every chat mallory opens
  alice.take();
  bob.take();
  mallory.take();
  const chatId = establish(w, alice, bob);
  return { core: w.core, alice, bob, mallory, mallory2, chatId, malloryChats: [] as string[] };
}
