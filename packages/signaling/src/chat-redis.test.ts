/**
 * Secret chats on Redis (issue 16): the Redis chat store on a real Redis (write-through, loaded back, TTLs, one
 * writer), and a cluster of two `mtcall-signal --redis --chat-instance A` processes: a chat between devices on
 * different instances both ways, a reader offline coming back on the OTHER instance and getting its queue in order,
 * acks deleting in Redis, and the chat instance SIGKILLed with queued updates and started again: nothing lost (while
 * it is down, chat frames get `chats-unavailable`). Then two processes started with `--redis` alone: the writer is
 * elected (the first to take the lease), a chat across them is in Redis, and when the writer is SIGKILLed the other
 * takes the lease over and delivers the queued updates.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { bytesToBase64 } from '@mtcall/crypto';
import { startLocalRedis, RedisChatStore, ChatStoreLeaseError, type LocalRedis } from './server.js';
import type { ChatUpdate } from './protocol.js';
import { RawClient } from './test-support/raw-client.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const WAIT = 30_000;
const gA = bytesToBase64(new Uint8Array(256).fill(7));
const gB = bytesToBase64(new Uint8Array(256).fill(9));
const cipher = (n: number, fill: number) => bytesToBase64(new Uint8Array(n).fill(fill));
let redis: LocalRedis;
let inspect: ReturnType<typeof createClient>;
const instances = new Map<string, { child: ChildProcess; url: string }>();
const clients: RawClient[] = [];

beforeAll(async () => {
  redis = await startLocalRedis();
  inspect = createClient({ url: redis.url });
  await inspect.connect();
});

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const { child } of instances.values()) child.kill('SIGKILL');
  await inspect.close();
  await redis.stop();
});

describe('RedisChatStore on a real Redis', () => {
  it('writes every change through, loads it back in another process’s place, expires, and has one writer', async () => {
    const options = { url: redis.url, prefix: 'unit:', instanceId: 'u1', leaseMs: 60_000 };
    const store = await RedisChatStore.open(options);
    await expect(RedisChatStore.open({ ...options, instanceId: 'u2' })).rejects.toBeInstanceOf(ChatStoreLeaseError);
    store.rememberDevice('bob', 'bob/d1');
    store.putChat({ chatId: 'c'.repeat(32), adminUserId: 'alice', adminDevice: 'alice/d1', participantUserId: 'bob', participantDevice: 'bob/d1', requestId: 'r1', createdAt: 1000 });
    const update = (n: number): ChatUpdate => ({ kind: 'message', chatId: 'c'.repeat(32), data: cipher(32, n) });
    const t0 = Date.now(); // the keys' TTLs count from the updates' times
    for (let n = 1; n <= 4; n++) expect(store.enqueue('bob/d1', update(n), t0 + 1000 * n)).toBe(n);
    expect(store.ack('bob/d1', 1)).toBe(1);
    store.putFile({ fileId: 'f'.repeat(16), chatId: 'c'.repeat(32), owner: 'alice/d1', ownerUserId: 'alice', parts: new Map([[0, new Uint8Array(32).fill(1)]]), bytes: 32, createdAt: t0 + 3000 });
    const file = store.getFile('f'.repeat(16))!;
    file.parts.set(1, new Uint8Array(16).fill(2));
    file.bytes += 16;
    store.putFile(file);
    await store.settled();
    expect(await inspect.zCard('unit:chat:q:bob/d1')).toBe(3);
    expect(await inspect.pTTL('unit:chat:q:bob/d1')).toBeGreaterThan(0);
    expect(await inspect.pTTL('unit:chat:f:ffffffffffffffff')).toBeGreaterThan(0);

    await store.close();
    const again = await RedisChatStore.open({ ...options, instanceId: 'u2' }); // the lease was released
    expect(again.devicesOf('bob')).toEqual(['bob/d1']);
    expect(again.getChat('c'.repeat(32))?.participantDevice).toBe('bob/d1');
    expect(again.pending('bob/d1').map((i) => [i.qts, i.at, i.update])).toEqual([2, 3, 4].map((n) => [n, t0 + 1000 * n, update(n)]));
    expect(again.lastQts('bob/d1')).toBe(4);
    const loaded = again.getFile('f'.repeat(16))!;
    expect([loaded.bytes, [...loaded.parts.keys()].sort(), loaded.parts.get(1)]).toEqual([48, [0, 1], new Uint8Array(16).fill(2)]);
    expect(again.expire(t0 + 2500)).toEqual({ updates: 1, files: 0 });
    expect(again.enqueue('bob/d1', update(5), t0 + 5000)).toBe(5);
    again.deleteChat('c'.repeat(32));
    await again.settled();
    expect(await inspect.zRange('unit:chat:q:bob/d1', 0, -1)).toHaveLength(3);
    expect(await inspect.exists(['unit:chat:c:' + 'c'.repeat(32), 'unit:chat:f:ffffffffffffffff'])).toBe(0);
    await again.close();
  });
});

describe('the writer lease fences every change (real Redis)', () => {
  const update = (n: number): ChatUpdate => ({ kind: 'message', chatId: 'd'.repeat(32), data: cipher(32, n) });

  it('a writer whose lease another instance took writes nothing more: Redis refuses the change, the store gives up', async () => {
    const lost: string[] = [];
    const store = await RedisChatStore.open({ url: redis.url, prefix: 'fence1:', instanceId: 'w1', leaseMs: 60_000, onLeaseLost: (why) => lost.push(why) });
    expect(store.enqueue('bob/d1', update(1), Date.now())).toBe(1);
    await store.settled();
    expect(await inspect.zCard('fence1:chat:q:bob/d1')).toBe(1);
    // Another instance holds the lease now (as after this one's pause outlived it).
    await inspect.set('fence1:chat:writer', 'w2');
    expect(store.enqueue('bob/d1', update(2), Date.now())).toBe(2); // the store is synchronous: Redis decides
    await store.settled();
    expect(await inspect.zCard('fence1:chat:q:bob/d1')).toBe(1); // refused: nothing of the stale writer stored
    expect(await inspect.get('fence1:chat:qts:bob/d1')).toBe('1');
    expect(store.leaseLost).toBe(true);
    expect(lost).toEqual(['Redis refused a change: another instance holds the lease']);
    store.enqueue('bob/d1', update(3), Date.now()); // not even sent
    expect(store.pendingWrites).toBe(0);
    await store.close();
    expect(await inspect.get('fence1:chat:writer')).toBe('w2'); // closing never releases another's lease
  });

  it('two processes under one instance id never both hold the lease: a live twin is refused, a crashed predecessor is waited out', async () => {
    const leaseMs = 1500;
    const first = await RedisChatStore.open({ url: redis.url, prefix: 'twin:', instanceId: 'w1', leaseMs });
    expect(first.leaseToken).toMatch(/^w1\/[0-9a-f]{16}$/);
    expect(await inspect.get('twin:chat:writer')).toBe(first.leaseToken);
    // The replacement started while the first still renews: refused (the holder named by instance id, for forwarding).
    const refused = await RedisChatStore.open({ url: redis.url, prefix: 'twin:', instanceId: 'w1', leaseMs }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ChatStoreLeaseError);
    expect((refused as ChatStoreLeaseError).holder).toBe('w1');
    expect(first.enqueue('bob/d1', update(1), Date.now())).toBe(1);
    await first.settled();
    expect(await inspect.zCard('twin:chat:q:bob/d1')).toBe(1);
    expect(first.leaseLost).toBe(false);
    await first.close();
    // A predecessor that crashed (its lease left to expire): the restart waits it out, then holds it with its own token.
    await inspect.set('twin:chat:writer', 'w1/0123456789abcdef', { PX: 500 });
    const restarted = await RedisChatStore.open({ url: redis.url, prefix: 'twin:', instanceId: 'w1', leaseMs });
    expect(restarted.leaseToken).not.toBe('w1/0123456789abcdef');
    expect(await inspect.get('twin:chat:writer')).toBe(restarted.leaseToken);
    expect(restarted.enqueue('bob/d1', update(2), Date.now())).toBe(2);
    await restarted.settled();
    expect(await inspect.zCard('twin:chat:q:bob/d1')).toBe(2);
    await restarted.close();
  });

  it('a writer that cannot renew (Redis paused longer than the lease) gives the lease up by itself', async () => {
    const lost: string[] = [];
    const leaseMs = 900;
    const store = await RedisChatStore.open({ url: redis.url, prefix: 'fence2:', instanceId: 'w1', leaseMs, onLeaseLost: (why) => lost.push(why) });
    const control = createClient({ url: redis.url });
    await control.connect();
    // Every client's commands wait for 3 lease times: renewals go unanswered.
    await control.sendCommand(['CLIENT', 'PAUSE', String(3 * leaseMs), 'ALL']);
    const pausedAt = Date.now();
    await expect.poll(() => lost.length, { timeout: WAIT, interval: 20 }).toBe(1);
    expect(lost[0]).toMatch(/^no lease renewal acknowledged by Redis for \d+ ms$/);
    expect(store.leaseLost).toBe(true);
    console.log(`lease given up ${Date.now() - pausedAt} ms into a Redis pause (lease ${leaseMs} ms)`);
    store.enqueue('bob/d1', update(1), Date.now()); // not sent
    expect(store.pendingWrites).toBe(0);
    await control.close(); // after the pause
    await store.close();
  });
});

async function startInstance(id: string, flags: string[] = ['--instance-ttl', '3', '--chat-instance', 'A']): Promise<void> {
  const child = spawn(process.execPath, [cli, '--port', '0', '--redis', redis.url, '--instance-id', id, ...flags, '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (ws:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`instance ${id} exited ${code}: ${stderr}`)));
  });
  instances.set(id, { child, url });
}

async function raw(at: string, userId: string, deviceId: string): Promise<RawClient> {
  const c = await RawClient.connect(instances.get(at)!.url, { userId, deviceId });
  clients.push(c);
  return c;
}

/** The next `n` chat updates of a client, in the order received. */
async function updates(c: RawClient, n: number): Promise<{ qts: number; update: ChatUpdate }[]> {
  const out: { qts: number; update: ChatUpdate }[] = [];
  for (let i = 0; i < n; i++) {
    const m = await c.next('chatUpdate', WAIT);
    out.push({ qts: m.qts, update: m.update });
  }
  return out;
}

describe('a cluster whose chat instance is A (two mtcall-signal processes, real Redis)', () => {
  it('chats cross instances both ways; the reader comes back on the other instance; acks delete; SIGKILL of A loses nothing, frames meanwhile refused', async () => {
    await Promise.all(['A', 'B'].map((id) => startInstance(id)));
    const bob = await raw('A', 'bob', 'b1');
    const alice = await raw('B', 'alice', 'a1');
    // alice (on B) requests; her frames go to A (after her registration: same connection, same order), which knows bob.
    alice.send({ type: 'chatRequest', requestId: 'r1', userId: 'bob', gA });
    const created = await alice.next('chatCreated', WAIT);
    const chatId = created.chatId;
    const [request] = await updates(bob, 1);
    expect(request!.update).toEqual({ kind: 'requested', chatId, fromUserId: 'alice', gA });
    bob.send({ type: 'chatAccept', chatId, gB, keyFingerprint: '-42' });
    expect((await updates(alice, 1))[0]!.update).toEqual({ kind: 'accepted', chatId, gB, keyFingerprint: '-42' });
    alice.send({ type: 'chatSend', requestId: 's1', chatId, data: cipher(32, 1) });
    expect((await updates(bob, 1))[0]!.update).toEqual({ kind: 'message', chatId, data: cipher(32, 1) });
    bob.send({ type: 'chatSend', requestId: 's2', chatId, data: cipher(48, 2) });
    expect((await alice.next('chatSent', WAIT)).chatId).toBe(chatId);
    expect((await updates(alice, 1))[0]!.update).toEqual({ kind: 'message', chatId, data: cipher(48, 2) });

    // Acks delete in Redis: bob's queue (request, message) and alice's (accepted, message).
    bob.send({ type: 'chatAck', qts: 2 });
    alice.send({ type: 'chatAck', qts: 2 });
    await expect.poll(() => inspect.zCard('mtcall:chat:q:bob/b1'), { timeout: WAIT }).toBe(0);
    await expect.poll(() => inspect.zCard('mtcall:chat:q:alice/a1'), { timeout: WAIT }).toBe(0);

    // bob goes offline; alice sends three; bob comes back on B and gets them in order.
    bob.close();
    await bob.closed;
    for (let i = 3; i <= 5; i++) {
      alice.send({ type: 'chatSend', requestId: `s${i}`, chatId, data: cipher(32, i) });
      await alice.next('chatSent', WAIT);
    }
    await expect.poll(() => inspect.zCard('mtcall:chat:q:bob/b1'), { timeout: WAIT }).toBe(3);
    const bobOnB = await raw('B', 'bob', 'b1');
    const back = await updates(bobOnB, 3);
    expect(back.map((u) => u.qts)).toEqual([3, 4, 5]);
    expect(back.map((u) => (u.update.kind === 'message' ? u.update.data : ''))).toEqual([3, 4, 5].map((i) => cipher(32, i)));
    bobOnB.send({ type: 'chatAck', qts: 5 });
    await expect.poll(() => inspect.zCard('mtcall:chat:q:bob/b1'), { timeout: WAIT }).toBe(0);

    // bob offline again; two more queued; the chat instance is SIGKILLed and started again: both still there.
    bobOnB.close();
    await bobOnB.closed;
    for (let i = 6; i <= 7; i++) {
      alice.send({ type: 'chatSend', requestId: `s${i}`, chatId, data: cipher(32, i) });
      await alice.next('chatSent', WAIT);
    }
    const a = instances.get('A')!.child;
    const exited = new Promise((resolve) => a.once('exit', resolve));
    a.kill('SIGKILL');
    await exited;
    // While it is down, a chat frame from B gets a named error at once (nobody listens on A's channel): nothing stored.
    await expect.poll(async () => (await inspect.pubSubNumSub('mtcall:to:A'))['mtcall:to:A'], { timeout: WAIT }).toBe(0);
    alice.send({ type: 'chatSend', requestId: 'lost', chatId, data: cipher(32, 99) });
    expect(await alice.next('error', WAIT)).toMatchObject({ code: 'chats-unavailable', requestId: 'lost', chatId });
    const startAt = Date.now();
    await startInstance('A');
    const upAt = Date.now();
    const bobAgain = await raw('B', 'bob', 'b1');
    const kept = await updates(bobAgain, 2);
    console.log(`chat instance SIGKILLed with 2 queued updates: its process started again in ${upAt - startAt} ms (node start, Redis load); the reader had both ${Date.now() - upAt} ms later`);
    expect(kept.map((u) => u.qts)).toEqual([6, 7]);
    expect(kept.map((u) => (u.update.kind === 'message' ? u.update.data : ''))).toEqual([6, 7].map((i) => cipher(32, i)));
    // …and the chat goes on through the restarted instance.
    bobAgain.send({ type: 'chatSend', requestId: 's8', chatId, data: cipher(32, 8) });
    expect((await bobAgain.next('chatSent', WAIT)).chatId).toBe(chatId);
    const next = await alice.next((m) => m.type === 'chatUpdate' && m.update.kind === 'message' && m.update.data === cipher(32, 8), WAIT);
    expect(next.type).toBe('chatUpdate');
  });
});

describe('a cluster started with --redis alone: the chat writer is elected (two mtcall-signal processes, real Redis)', () => {
  it('the first instance takes the lease, the other forwards; SIGKILL of the writer: the other takes over and delivers the queue', async () => {
    const flags = ['--instance-ttl', '1', '--redis-prefix', 'el:'];
    await startInstance('E1', flags); // first: it takes the lease
    await startInstance('E2', flags);
    expect(await inspect.get('el:chat:writer')).toMatch(/^E1\//);
    const bob = await raw('E1', 'bob', 'b1');
    const alice = await raw('E2', 'alice', 'a1');
    alice.send({ type: 'chatRequest', requestId: 'r1', userId: 'bob', gA });
    const { chatId } = await alice.next('chatCreated', WAIT);
    expect((await updates(bob, 1))[0]!.update).toEqual({ kind: 'requested', chatId, fromUserId: 'alice', gA });
    bob.send({ type: 'chatAccept', chatId, gB, keyFingerprint: '-7' });
    expect((await updates(alice, 1))[0]!.update).toEqual({ kind: 'accepted', chatId, gB, keyFingerprint: '-7' });
    alice.send({ type: 'chatSend', requestId: 's1', chatId, data: cipher(32, 1) });
    expect((await updates(bob, 1))[0]!.update).toEqual({ kind: 'message', chatId, data: cipher(32, 1) });
    bob.send({ type: 'chatAck', qts: 2 });
    await expect.poll(() => inspect.zCard('el:chat:q:bob/b1'), { timeout: WAIT }).toBe(0);

    // bob offline; alice queues one; the writer is SIGKILLed: E2 takes the lease once it expires, loading from Redis.
    bob.close();
    await bob.closed;
    alice.send({ type: 'chatSend', requestId: 's2', chatId, data: cipher(32, 2) });
    await alice.next((m) => m.type === 'chatSent' && m.requestId === 's2', WAIT);
    expect(await inspect.zCard('el:chat:q:bob/b1')).toBe(1);
    const e1 = instances.get('E1')!.child;
    const exited = new Promise((resolve) => e1.once('exit', resolve));
    const killedAt = Date.now();
    e1.kill('SIGKILL');
    await exited;
    await expect.poll(async () => (await inspect.get('el:chat:writer')) ?? '', { timeout: WAIT }).toMatch(/^E2\//);
    console.log(`elected chat writer SIGKILLed (lease TTL 1 s): the other instance held the lease ${Date.now() - killedAt} ms later`);
    const bobOnE2 = await raw('E2', 'bob', 'b1');
    const [queued] = await updates(bobOnE2, 1);
    expect(queued).toEqual({ qts: 3, update: { kind: 'message', chatId, data: cipher(32, 2) } });
    // …and the chat goes on through the new writer, both ways.
    bobOnE2.send({ type: 'chatSend', requestId: 's3', chatId, data: cipher(32, 3) });
    expect((await bobOnE2.next('chatSent', WAIT)).chatId).toBe(chatId);
    const next = await alice.next((m) => m.type === 'chatUpdate' && m.update.kind === 'message' && m.update.data === cipher(32, 3), WAIT);
    expect(next.type).toBe('chatUpdate');
  });

  it('a writer paused longer than its lease (SIGSTOP) steps down when it wakes: the new writer alone numbers the updates', async () => {
    const flags = ['--instance-ttl', '1', '--redis-prefix', 'sb:'];
    await startInstance('S1', flags);
    await startInstance('S2', flags);
    expect(await inspect.get('sb:chat:writer')).toMatch(/^S1\//);
    const bob = await raw('S1', 'bob', 'b1'); // on the writer
    const alice = await raw('S2', 'alice', 'a1');
    alice.send({ type: 'chatRequest', requestId: 'r1', userId: 'bob', gA });
    const { chatId } = await alice.next('chatCreated', WAIT);
    await updates(bob, 1);
    bob.send({ type: 'chatAccept', chatId, gB, keyFingerprint: '-7' });
    await updates(alice, 1); // alice's qts 1
    alice.send({ type: 'chatAck', qts: 1 });
    await expect.poll(() => inspect.zCard('sb:chat:q:alice/a1'), { timeout: WAIT }).toBe(0);

    // S1 freezes (a GC or VM pause, a partition): S2 takes the lease once it expired and goes on numbering.
    const s1 = instances.get('S1')!.child;
    s1.kill('SIGSTOP');
    try {
      await expect.poll(async () => (await inspect.get('sb:chat:writer')) ?? '', { timeout: WAIT }).toMatch(/^S2\//);
      const carol = await raw('S2', 'carol', 'c1');
      carol.send({ type: 'chatRequest', requestId: 'r2', userId: 'alice', gA });
      await carol.next('chatCreated', WAIT);
      expect((await updates(alice, 1))[0]!.qts).toBe(2); // numbered by S2
    } finally {
      s1.kill('SIGCONT');
    }
    // S1 wakes believing it writes; bob, connected to it, sends at once. Before the fence S1 handled this with its
    // stale numbering (alice's qts 2 again, written beside S2's); now S1 refuses it or forwards it to S2.
    bob.send({ type: 'chatSend', requestId: 's1', chatId, data: cipher(32, 1) });
    const reply = await bob.next((m) => (m.type === 'chatSent' && m.requestId === 's1') || (m.type === 'error' && m.code === 'chats-unavailable'), WAIT);
    let sent = reply.type === 'chatSent';
    for (let i = 2; !sent && i < 200; i++) {
      // Refused while S1 learns the new writer: the SDK would retry; so does the test, until it goes through.
      await new Promise((resolve) => setTimeout(resolve, 100));
      bob.send({ type: 'chatSend', requestId: `s${i}`, chatId, data: cipher(32, 1) });
      const again = await bob.next((m) => (m.type === 'chatSent' && m.requestId === `s${i}`) || (m.type === 'error' && m.code === 'chats-unavailable'), WAIT);
      sent = again.type === 'chatSent';
    }
    expect(sent).toBe(true);
    const delivered = await updates(alice, 1);
    expect(delivered[0]).toEqual({ qts: 3, update: { kind: 'message', chatId, data: cipher(32, 1) } });
    // Redis holds alice's two unacknowledged updates under distinct qts, each written once, both by S2.
    const queued = (await inspect.zRangeWithScores('sb:chat:q:alice/a1', 0, -1)).map((m) => m.score);
    expect(queued).toEqual([2, 3]);
    expect(await inspect.get('sb:chat:qts:alice/a1')).toBe('3');
    expect(await inspect.get('sb:chat:writer')).toMatch(/^S2\//);
  });
});
