/**
 * The SDK's secret chats in Node over real WebSockets and the real signaling server: both ways with delivery and
 * read state, the other side offline while one writes, a file byte-exact, a re-key past 100 messages, and the
 * server's store holding no plaintext. (The browser run is test/e2e/chat.test.ts.)
 */

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SignalingClient, type ChatUpdate, type WebSocketConstructor } from '@mtcall/signaling';
import { DEFAULT_SERVER_LIMITS, MemoryChatStore, startSignalingServer, type DeviceAddress, type RateLimit, type RunningSignalingServer, type StoredFile } from '@mtcall/signaling/server';
import { SecretChats, type ChatMessage, type ChatSession } from './chat.js';

let server: RunningSignalingServer | undefined;
const clients: SignalingClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

/** The server's store, recording every byte string it was ever given (queued payloads and file parts). */
class RecordingStore extends MemoryChatStore {
  readonly seen: Buffer[] = [];
  override enqueue(device: DeviceAddress, update: ChatUpdate, now: number): number {
    if (update.kind === 'message') this.seen.push(Buffer.from(update.data, 'base64'));
    return super.enqueue(device, update, now);
  }
  override putFile(file: StoredFile): void {
    for (const part of file.parts.values()) this.seen.push(Buffer.from(part));
    super.putFile(file);
  }
}

/** A WebSocket that can be unplugged: open sockets are cut and new ones fail until plugged in again. */
function pluggable() {
  const state = { offline: false, sockets: new Set<WebSocket>() };
  const Impl = class extends WebSocket {
    constructor(url: string) {
      super(state.offline ? 'ws://127.0.0.1:1/' : url);
      state.sockets.add(this);
    }
  };
  return {
    Impl: Impl as unknown as WebSocketConstructor,
    unplug() {
      state.offline = true;
      for (const s of state.sockets) s.terminate();
      state.sockets.clear();
    },
    plug() {
      state.offline = false;
    },
  };
}

async function device(userId: string, plug = pluggable(), options: { rekeyAfterMessages?: number } = {}) {
  const signaling = new SignalingClient({ url: server!.url, userId, deviceId: 'd1', WebSocket: plug.Impl, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
  clients.push(signaling);
  await signaling.connect();
  const chats = new SecretChats(signaling, options);
  const incoming: ChatSession[] = [];
  chats.on('chat', (s) => incoming.push(s));
  return { signaling, chats, incoming, plug };
}

/** Resolves when `check` holds, re-checking on every event loop turn (no wall-clock bound: vitest's timeout is the bound). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}

async function pair(options: { rekeyAfterMessages?: number; store?: MemoryChatStore; maxQueuePerDevice?: number; rateLimit?: RateLimit } = {}) {
  const limits = options.maxQueuePerDevice !== undefined ? { chatLimits: { maxQueuePerDevice: options.maxQueuePerDevice } } : {};
  server = await startSignalingServer({ port: 0, ...limits, ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}), ...(options.store ? { chatStore: options.store } : {}) });
  const alice = await device('alice', pluggable(), options);
  const bob = await device('bob', pluggable(), options);
  const a = alice.chats.chat('bob');
  await until(() => a.state === 'established' && bob.incoming.length === 1);
  return { alice, bob, a, b: bob.incoming[0]! };
}

const texts = (s: ChatSession, direction: 'in' | 'out') => s.messages.filter((m) => m.direction === direction).map((m) => m.text);

describe('secret chats in the SDK (Node, real server)', () => {
  it('both ways; delivered when the server stored it, read when the other side says so; same key picture', async () => {
    const { a, b } = await pair();
    expect(Buffer.from(a.key!.visualization).toString('hex')).toBe(Buffer.from(b.key!.visualization).toString('hex'));
    expect(a.key!.fingerprint).toBe(b.key!.fingerprint);
    const delivered: ChatMessage[] = [];
    const read: ChatMessage[] = [];
    a.on('delivered', (m) => delivered.push(m));
    a.on('read', (ms) => read.push(...ms));
    const sent = a.send('hello bob');
    b.send('hello alice');
    await until(() => texts(b, 'in').length === 1 && texts(a, 'in').length === 1 && delivered.length === 1);
    expect(texts(b, 'in')).toEqual(['hello bob']);
    expect(texts(a, 'in')).toEqual(['hello alice']);
    expect(delivered[0]!.id).toBe(sent.id);
    b.markRead();
    await until(() => read.length === 1);
    expect(a.messages.find((m) => m.id === sent.id)!.status).toBe('read');
  });

  it('the other side offline while one writes: everything arrives, in order, once it is back', async () => {
    const { bob, a, b } = await pair();
    bob.plug.unplug();
    await until(() => bob.signaling.reconnecting);
    const delivered: ChatMessage[] = [];
    a.on('delivered', (m) => delivered.push(m));
    for (let i = 0; i < 20; i++) a.send(`offline ${i}`);
    await until(() => delivered.length === 20); // stored by the server while bob is away
    expect(texts(b, 'in')).toEqual([]);
    expect(server!.core.chatStore.queueLength('bob/d1')).toBeGreaterThanOrEqual(20);
    bob.plug.plug();
    await until(() => texts(b, 'in').length === 20);
    expect(texts(b, 'in')).toEqual(Array.from({ length: 20 }, (_, i) => `offline ${i}`));
    await until(() => server!.core.chatStore.queueLength('bob/d1') === 0); // acknowledged, deleted
  });

  it('the writer offline: messages wait as `sending`, go out after the reconnect, and arrive once', async () => {
    const { alice, a, b } = await pair();
    alice.plug.unplug();
    await until(() => alice.signaling.reconnecting);
    const sent = ['one', 'two', 'three'].map((t) => a.send(t));
    expect(a.messages.filter((m) => sent.some((s) => s.id === m.id)).map((m) => m.status)).toEqual(['sending', 'sending', 'sending']);
    alice.plug.plug();
    await until(() => texts(b, 'in').length === 3 && a.messages.every((m) => m.status !== 'sending'));
    expect(texts(b, 'in')).toEqual(['one', 'two', 'three']);
  });

  it('a message the server refuses (queue-full) is `failed` with its code, and a retry sends the same packet once', async () => {
    const { bob, a, b } = await pair({ maxQueuePerDevice: 5 });
    await until(() => server!.core.chatStore.queueLength('bob/d1') === 0); // bob acknowledged the request
    bob.plug.unplug();
    await until(() => bob.signaling.reconnecting);
    const failed: ChatMessage[] = [];
    a.on('failed', (m) => failed.push(m));
    const sent = Array.from({ length: 8 }, (_, i) => a.send(`m${i}`));
    await until(() => a.messages.every((m) => m.status !== 'sending'));
    expect(a.messages.map((m) => m.status)).toEqual([...Array(5).fill('delivered'), ...Array(3).fill('failed')]);
    expect(failed.map((m) => [m.text, m.failure])).toEqual([['m5', 'queue-full'], ['m6', 'queue-full'], ['m7', 'queue-full']]);
    expect(() => a.retry(sent[0]!.id)).toThrow(/no failed message/); // delivered: nothing to retry
    bob.plug.plug();
    await until(() => texts(b, 'in').length === 5 && server!.core.chatStore.queueLength('bob/d1') === 0);
    const sentBefore = a.stats.sent;
    for (const m of failed) expect(a.retry(m.id).status).toBe('sending');
    await until(() => texts(b, 'in').length === 8 && a.messages.every((m) => m.status === 'delivered'));
    expect(texts(b, 'in')).toEqual(sent.map((m) => m.text));
    expect(a.messages.every((m) => m.failure === undefined)).toBe(true);
    expect(a.stats.sent).toBe(sentBefore); // the same packets: nothing was encrypted again
    expect(b.stats.dropped).toEqual(expect.objectContaining({ duplicate: 0 }));
  });

  /** Counts the server's `rate-limited` refusals to this device. */
  function refusals(d: { signaling: SignalingClient }) {
    const count = { rateLimited: 0 };
    d.signaling.on('chatError', (e) => void (e.code === 'rate-limited' && count.rateLimited++));
    d.signaling.on('error', (e) => void (e.code === 'rate-limited' && count.rateLimited++));
    return count;
  }

  it(`a burst of 500 messages is paced under the server's default rate (${DEFAULT_SERVER_LIMITS.rateLimit.perSecond}/s): all delivered in order, none refused`, async () => {
    const { alice, a, b } = await pair();
    const count = refusals(alice);
    const failed: ChatMessage[] = [];
    a.on('failed', (m) => failed.push(m));
    const sent = Array.from({ length: 500 }, (_, i) => a.send(`burst ${i}`));
    await until(() => texts(b, 'in').length === 500 && a.messages.every((m) => m.status !== 'sending'));
    expect(texts(b, 'in')).toEqual(sent.map((m) => m.text));
    expect(a.messages.every((m) => m.status === 'delivered' || m.status === 'read')).toBe(true);
    expect(failed).toEqual([]);
    expect(count.rateLimited).toBe(0);
    expect(alice.signaling.online).toBe(true);
   }, 120_000);

  it('against a server slower than the pace, refused frames go again (same frame) and slow the pace: all delivered in order', async () => {
    const { alice, a, b } = await pair({ rateLimit: { perSecond: 20, burst: 40, maxViolations: 1000 } });
    const count = refusals(alice);
    const sent = Array.from({ length: 150 }, (_, i) => a.send(`slow ${i}`));
    await until(() => texts(b, 'in').length === 150 && a.messages.every((m) => m.status !== 'sending'));
    expect(count.rateLimited).toBeGreaterThan(0); // the server did refuse some: the path was taken
    expect(texts(b, 'in')).toEqual(sent.map((m) => m.text));
    expect(a.messages.every((m) => m.status === 'delivered' || m.status === 'read')).toBe(true);
   }, 120_000);

  it('a file of 150 kB: encrypted parts on the server, byte-exact after download; the store holds no plaintext', async () => {
    const store = new RecordingStore();
    const { a, b } = await pair({ store });
    const file = new Uint8Array(150 * 1024);
    for (let i = 0; i < file.length; i++) file[i] = (i * 31 + (i >> 8)) & 0xff;
    const files: ChatMessage[] = [];
    b.on('file', (m) => files.push(m));
    a.send('the secret word is swordfish');
    await a.sendFile(file, { name: 'data.bin', mimeType: 'application/octet-stream' });
    await until(() => files.length === 1);
    expect(files[0]!.file).toMatchObject({ name: 'data.bin', size: file.length, status: 'available' });
    const got = await b.downloadFile(files[0]!.id);
    expect(Buffer.from(got).equals(Buffer.from(file))).toBe(true);
    const stored = store.seen;
    expect(stored.length).toBeGreaterThanOrEqual(5 + 2); // 5 parts, the two messages (and the layer notifications)
    const needles = [Buffer.from('swordfish'), Buffer.from(file.subarray(1000, 1032)), Buffer.from('data.bin')];
    for (const needle of needles) expect(stored.some((x) => x.includes(needle))).toBe(false);
  });

  it('re-keys past 100 messages: the key changes on both sides and messages keep flowing', async () => {
    const { a, b } = await pair();
    const before = a.key!.fingerprint;
    for (let i = 0; i < 110; i++) a.send(`m${i}`);
    await until(() => texts(b, 'in').length === 110 && a.key!.rekeys >= 1 && b.key!.rekeys >= 1);
    expect(a.key!.fingerprint).not.toBe(before);
    expect(a.key!.fingerprint).toBe(b.key!.fingerprint);
    b.send('after the re-key');
    a.send('after the re-key too');
    await until(() => texts(a, 'in').length === 1 && texts(b, 'in').length === 111);
    expect(texts(b, 'in')[110]).toBe('after the re-key too');
    expect(a.stats.dropped['msg-key-mismatch'] + b.stats.dropped['msg-key-mismatch']).toBe(0);
  });

  it('a chat with a user the server never saw is refused and closes with a typed reason', async () => {
    server = await startSignalingServer({ port: 0 });
    const alice = await device('alice');
    const chat = alice.chats.chat('nobody');
    const errors: string[] = [];
    chat.on('error', (e) => errors.push(e.message));
    await until(() => chat.state === 'closed');
    expect(chat.closeReason).toBe('unknown-user');
    expect(errors[0]).toMatch(/^unknown-user/);
    expect(() => chat.send('x')).toThrow(/closed/);
  });
});
