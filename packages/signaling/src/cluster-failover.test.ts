/**
 * Failover of a signaling cluster: three `mtcall-signal --redis` processes and a real Redis; an instance is killed
 * with SIGKILL while calls are established. Its clients reconnect to the next URL of their list and resume; calls
 * between devices of other instances never notice; its devices that do not come back expire by TTL.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startLocalRedis, type LocalRedis } from './server.js';
import { SignalingClient, type Call } from './client.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const TTL_S = 3;
let redis: LocalRedis;
const instances = new Map<string, { child: ChildProcess; url: string }>();
const clients: SignalingClient[] = [];

async function startInstance(id: string): Promise<void> {
  const child = spawn(process.execPath, [cli, '--port', '0', '--redis', redis.url, '--instance-id', id, '--instance-ttl', String(TTL_S), '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
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

beforeAll(async () => {
  redis = await startLocalRedis();
  await Promise.all(['A', 'B', 'C'].map(startInstance));
});

afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const { child } of instances.values()) child.kill('SIGKILL');
  await redis.stop();
});

/** A client whose list starts at `first` and goes on through the others. */
async function client(first: string, userId: string, extra: Partial<ConstructorParameters<typeof SignalingClient>[0]> = {}): Promise<SignalingClient> {
  const order = ['A', 'B', 'C'];
  const start = order.indexOf(first);
  const urls = [...order.slice(start), ...order.slice(0, start)].map((id) => instances.get(id)!.url);
  const c = new SignalingClient({ urls, userId, deviceId: `${userId}-1`, WebSocket: WebSocket as never, ...extra });
  clients.push(c);
  await c.connect();
  return c;
}

async function establish(caller: SignalingClient, callee: SignalingClient): Promise<{ outgoing: Call; incoming: Call }> {
  // The caller's instance learns of the callee's device through a delta: retry while it answers "offline".
  for (;;) {
    const ring = callee.next('incoming', 30_000);
    const outgoing = caller.call(callee.userId);
    const first = await Promise.race([ring.then((incoming) => ({ incoming })), outgoing.next('ended', 30_000).then((ended) => ({ ended }))]);
    if ('ended' in first) {
      expect(first.ended.reason).toBe('offline');
      void ring.catch(() => undefined);
      continue;
    }
    const established = Promise.all([outgoing.next('established', 30_000), first.incoming.next('established', 30_000)]);
    first.incoming.accept();
    await established;
    return { outgoing, incoming: first.incoming };
  }
}

async function signalCrosses(from: Call, to: Call): Promise<void> {
  const got = to.next('signal', 30_000);
  from.sendSignal({ type: 'media', audio: true, video: false });
  expect(await got).toEqual({ type: 'media', audio: true, video: false });
}

it('SIGKILL of one instance: its clients reconnect to another and resume; other calls never notice; its stale devices expire by TTL', async () => {
  const alice = await client('A', 'alice');
  const bob = await client('B', 'bob');
  const dave = await client('C', 'dave');
  const erin = await client('A', 'erin');
  const ghost = await client('B', 'ghost', { reconnect: false });
  const watcher = await client('C', 'watcher', { watch: ['ghost'] });
  await expect.poll(() => watcher.presence.find((e) => e.userId === 'ghost')?.devices, { timeout: 30_000 }).toBe(1);
  const ab = await establish(alice, bob); // owned by A; bob's socket is on B
  const de = await establish(dave, erin); // owned by C; both sockets elsewhere than B

  const resumed = new Promise<string>((resolve) => ab.incoming.on('signaling', (state) => void (state !== 'interrupted' && resolve(state))));
  const killedAt = Date.now();
  instances.get('B')!.child.kill('SIGKILL');
  expect(await resumed).toBe('resumed');
  const resumeMs = Date.now() - killedAt;
  await signalCrosses(ab.outgoing, ab.incoming);
  await signalCrosses(ab.incoming, ab.outgoing);
  await signalCrosses(de.outgoing, de.incoming);
  expect(ab.outgoing.state).toBe('established');
  expect(ab.outgoing.keys!.emoji).toEqual(ab.incoming.keys!.emoji);

  await expect.poll(() => watcher.presence.find((e) => e.userId === 'ghost')?.devices ?? 0, { timeout: 60_000 }).toBe(0);
  const expiredMs = Date.now() - killedAt;
  console.log(`failover: bob resumed on another instance ${resumeMs} ms after SIGKILL; a device that did not come back expired after ${expiredMs} ms (TTL ${TTL_S} s)`);
  ab.outgoing.hangUp();
  de.outgoing.hangUp();
});
