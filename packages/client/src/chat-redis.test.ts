/**
 * The SDK's secret chats across a cluster on a real Redis: two in-process instances A and B (`chatInstance: 'A'`,
 * so A keeps the chats in Redis and B forwards to it), alice on B, bob on A, then bob offline while alice writes and
 * back on B: everything arrives decrypted, in order, and his queue is acknowledged away.
 */

import { afterAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SignalingClient, type WebSocketConstructor } from '@mtcall/signaling';
import { startLocalRedis, startSignalingServer, type LocalRedis, type RunningSignalingServer } from '@mtcall/signaling/server';
import { SecretChats, type ChatMessage, type ChatSession } from './chat.js';

let redis: LocalRedis | undefined;
const servers: RunningSignalingServer[] = [];
const clients: SignalingClient[] = [];
afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
  await redis?.stop();
});

/** A WebSocket that can be cut, and sent to another server than the one asked for (the next URL of a list). */
function movable(first: string) {
  const state = { target: first as string | undefined, sockets: new Set<WebSocket>() };
  const Impl = class extends WebSocket {
    constructor() {
      super(state.target ?? 'ws://127.0.0.1:1/');
      state.sockets.add(this);
    }
  };
  return {
    Impl: Impl as unknown as WebSocketConstructor,
    unplug() {
      state.target = undefined;
      for (const s of state.sockets) s.terminate();
      state.sockets.clear();
    },
    plugInto(url: string) {
      state.target = url;
    },
  };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}

const texts = (s: ChatSession, direction: 'in' | 'out') => s.messages.filter((m) => m.direction === direction).map((m) => m.text);

it('a chat between instances; the reader offline, back on the other instance: all in order, acknowledged', async () => {
  redis = await startLocalRedis();
  for (const id of ['A', 'B']) servers.push(await startSignalingServer({ port: 0, redis: { url: redis.url, instanceId: id, chatInstance: 'A', instanceTtlMs: 5000 } }));
  const [A, B] = servers as [RunningSignalingServer, RunningSignalingServer];
  const device = async (userId: string, socket: ReturnType<typeof movable>) => {
    const signaling = new SignalingClient({ url: 'ws://unused/', userId, deviceId: 'd1', WebSocket: socket.Impl, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    clients.push(signaling);
    await signaling.connect();
    const chats = new SecretChats(signaling);
    const incoming: ChatSession[] = [];
    chats.on('chat', (s) => incoming.push(s));
    return { signaling, chats, incoming, socket };
  };
  const bob = await device('bob', movable(A.url));
  const alice = await device('alice', movable(B.url));
  const a = alice.chats.chat('bob');
  await until(() => a.state === 'established' && bob.incoming.length === 1);
  const b = bob.incoming[0]!;
  expect(Buffer.from(a.key!.visualization).toString('hex')).toBe(Buffer.from(b.key!.visualization).toString('hex'));
  a.send('hello bob');
  b.send('hello alice');
  await until(() => texts(b, 'in').length === 1 && texts(a, 'in').length === 1);

  bob.socket.unplug();
  await until(() => bob.signaling.reconnecting);
  const delivered: ChatMessage[] = [];
  a.on('delivered', (m) => delivered.push(m));
  for (let i = 0; i < 20; i++) a.send(`offline ${i}`);
  await until(() => delivered.length === 20); // stored by A (in Redis) while bob is away
  expect(A.core.chatStore.queueLength('bob/d1')).toBeGreaterThanOrEqual(20);
  bob.socket.plugInto(B.url);
  await until(() => texts(b, 'in').length === 21);
  expect(texts(b, 'in')).toEqual(['hello bob', ...Array.from({ length: 20 }, (_, i) => `offline ${i}`)]);
  await until(() => A.core.chatStore.queueLength('bob/d1') === 0); // acknowledged through B, deleted
  b.send('back, on B');
  await until(() => texts(a, 'in').length === 2);
  expect(texts(a, 'in')).toEqual(['hello alice', 'back, on B']);
});
