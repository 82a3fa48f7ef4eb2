import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { createClient } from 'redis';
import { bytesToBase64, randomBytes, sha256 } from '@mtcall/crypto';
import { startLocalRedis, startSignalingServer, type LocalRedis, type RunningSignalingServer } from './server.js';
import { SignalingClient } from './client.js';
import { RawClient } from './test-support/raw-client.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
let redis: LocalRedis;
const servers = new Map<string, RunningSignalingServer>();
const closers: (() => void)[] = [];

beforeAll(async () => {
  redis = await startLocalRedis();
  for (const id of ['A', 'B', 'C']) servers.set(id, await startSignalingServer({ port: 0, redis: { url: redis.url, instanceId: id, instanceTtlMs: 5000 } }));
});

afterAll(async () => {
  for (const close of closers.splice(0)) close();
  for (const server of servers.values()) await server.close();
  await redis.stop();
});

const url = (id: string) => servers.get(id)!.url;

async function client(at: string, userId: string, deviceId: string, extra: Partial<ConstructorParameters<typeof SignalingClient>[0]> = {}): Promise<SignalingClient> {
  const c = new SignalingClient({ url: url(at), userId, deviceId, WebSocket: WebSocket as never, ...extra });
  closers.push(() => c.close());
  await c.connect();
  return c;
}

async function raw(at: string, userId: string, deviceId: string): Promise<RawClient> {
  const r = await RawClient.connect(url(at), { userId, deviceId });
  closers.push(() => r.close());
  return r;
}

/** Waits until every instance has a stand-in (or the device itself) for `count` devices of others. */
async function standIns(at: string, count: number): Promise<void> {
  await expect.poll(() => servers.get(at)!.cluster!.stats.standIns, { timeout: 20_000 }).toBe(count);
}

describe('signaling cluster on a real Redis, three instances', () => {
  it('a caller on A reaches the callee on B and C; "answered elsewhere" and the hang-up cross instances; same emoji', async () => {
    const alice = await client('A', 'alice', 'a1');
    const phone = await client('B', 'bob', 'phone');
    const laptop = await client('C', 'bob', 'laptop');
    await standIns('A', 2);
    const rings = [phone.next('incoming', 20_000), laptop.next('incoming', 20_000)];
    const outgoing = alice.call('bob');
    const [incoming, other] = await Promise.all(rings);
    const elsewhere = other!.next('ended', 20_000);
    const established = Promise.all([outgoing.next('established', 20_000), incoming!.next('established', 20_000)]);
    incoming!.accept();
    const [a, b] = await established;
    expect(a.emoji).toEqual(b.emoji);
    expect((await elsewhere).reason).toBe('answered-elsewhere');
    const signal = outgoing.next('signal', 20_000);
    incoming!.sendSignal({ type: 'media', audio: true, video: false });
    expect(await signal).toEqual({ type: 'media', audio: true, video: false });
    const ended = incoming!.next('ended', 20_000);
    outgoing.hangUp();
    expect(await ended).toMatchObject({ reason: 'hangup', byPeer: true });
    for (const c of [alice, phone, laptop]) c.close();
    await standIns('A', 0);
  });

  it('presence crosses instances', async () => {
    const watcher = await client('A', 'carol', 'c1', { watch: ['dave'] });
    const seen: number[] = [];
    watcher.on('presenceChange', (e) => void (e.userId === 'dave' && seen.push(e.devices)));
    const dave = await client('C', 'dave', 'd1');
    await expect.poll(() => seen.at(-1), { timeout: 20_000 }).toBe(1);
    dave.close();
    await expect.poll(() => seen.at(-1), { timeout: 20_000 }).toBe(0);
    watcher.close();
  });

  it('25 accept races on two instances: exactly one winner each', async () => {
    const alice = await raw('A', 'erin', 'e1');
    const phone = await raw('B', 'frank', 'phone');
    const laptop = await raw('C', 'frank', 'laptop');
    await standIns('A', 2);
    const gB = bytesToBase64(randomBytes(256));
    for (let round = 0; round < 25; round++) {
      alice.send({ type: 'requestCall', requestId: `r${round}`, calleeId: 'frank', gAHash: bytesToBase64(sha256(randomBytes(8))), video: false });
      const { callId } = (await alice.next('callRequested')) as { callId: string };
      await Promise.all([phone.next('phoneCallRequested'), laptop.next('phoneCallRequested')]);
      phone.send({ type: 'acceptCall', callId, gB });
      laptop.send({ type: 'acceptCall', callId, gB });
      await alice.next('phoneCallAccepted');
      // The loser hears "answered elsewhere" and its accept is refused.
      await expect.poll(() => [phone, laptop].filter((r) => r.received.some((m) => m.type === 'phoneCallDiscarded' && m.callId === callId)).length, { timeout: 20_000 }).toBe(1);
      await expect.poll(() => [phone, laptop].filter((r) => r.received.some((m) => m.type === 'error' && m.callId === callId)).length, { timeout: 20_000 }).toBe(1);
      alice.send({ type: 'discardCall', callId, reason: 'hangup' });
    }
    await expect.poll(() => [phone, laptop].reduce((n, r) => n + r.received.filter((m) => m.type === 'phoneCallDiscarded' && m.reason === 'hangup').length, 0), { timeout: 20_000 }).toBe(25);
    // One accept per round was awaited (and consumed) above; no second one ever reached the caller.
    expect(alice.received.filter((m) => m.type === 'phoneCallAccepted')).toHaveLength(0);
    for (const r of [alice, phone, laptop]) r.close();
    await standIns('A', 0);
  });

  it('an instance killed with SIGKILL: its devices expire from the others by TTL', async () => {
    const child = spawn(process.execPath, [cli, '--port', '0', '--redis', redis.url, '--instance-id', 'D', '--instance-ttl', '1', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
    closers.push(() => child.kill('SIGKILL'));
    let stderr = '';
    const dUrl = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /listening on (ws:\/\/\S+)/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const ghost = new SignalingClient({ url: dUrl, userId: 'gina', deviceId: 'g1', WebSocket: WebSocket as never, reconnect: false });
    closers.push(() => ghost.close());
    await ghost.connect();
    const watcher = await client('A', 'hank', 'h1', { watch: ['gina'] });
    await expect.poll(() => watcher.presence.find((e) => e.userId === 'gina')?.devices, { timeout: 20_000 }).toBe(1);
    const killedAt = Date.now();
    child.kill('SIGKILL');
    await expect.poll(() => watcher.presence.find((e) => e.userId === 'gina')?.devices ?? 0, { timeout: 30_000 }).toBe(0);
    const expiredAfterMs = Date.now() - killedAt;
    const check = createClient({ url: redis.url });
    await check.connect();
    expect(await check.hGet('mtcall:dir', 'gina\u0000g1')).toBeNull();
    expect(await check.sIsMember('mtcall:instances', 'D')).toBe(0);
    await check.close();
    console.log(`instance D killed: its device expired on A after ${expiredAfterMs} ms (TTL 1000 ms, heartbeat every ~500 ms)`);
    watcher.close();
  });
});
