/**
 * A room's owner crashes: two `mtcall-signal --rooms --redis` processes (each with its own mediasoup SFU) and a real
 * Redis; the instance holding one room is killed with SIGKILL (no goodbye: its heartbeat key simply expires). The
 * member on the other instance is told `room-lost` once the TTL passes and joins again there (a takeover, the next
 * generation); a room held by the surviving instance never notices.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { bytesToBase64, sha256 } from '@mtcall/crypto';
import { startLocalRedis, type LocalRedis } from './server.js';
import { RawClient } from './test-support/raw-client.js';
import type { ServerMessage } from './protocol.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const TTL_S = 3;
let redis: LocalRedis;
let db: ReturnType<typeof createClient>;
const instances = new Map<string, { child: ChildProcess; url: string }>();
const raws: RawClient[] = [];

async function startInstance(id: string): Promise<void> {
  const args = [cli, '--port', '0', '--rooms', '--sfu-workers', '1', '--redis', redis.url, '--instance-id', id, '--instance-ttl', String(TTL_S), '--quiet'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
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
  db = createClient({ url: redis.url });
  await db.connect();
  await Promise.all(['P', 'Q'].map(startInstance));
});

afterAll(async () => {
  for (const r of raws.splice(0)) r.close();
  for (const { child } of instances.values()) child.kill('SIGKILL');
  await db?.close();
  await redis?.stop();
});

async function raw(at: string, userId: string): Promise<RawClient> {
  const r = await RawClient.connect(instances.get(at)!.url, { userId, deviceId: 'd1' });
  raws.push(r);
  return r;
}

let requests = 0;
async function join(r: RawClient, roomId: string): Promise<Extract<ServerMessage, { type: 'roomJoined' }>> {
  const requestId = `j${++requests}`;
  r.send({ type: 'joinRoom', requestId, roomId });
  const m = await r.next((x) => (x.type === 'roomJoined' || x.type === 'error') && x.requestId === requestId, 30_000);
  if (m.type !== 'roomJoined') throw new Error(`join refused: ${JSON.stringify(m)}`);
  return m;
}

it('SIGKILL of a room\'s owner: its member elsewhere is told room-lost after the TTL and joins again on a survivor; another room carries on', async () => {
  const dave = await raw('P', 'dave');
  const erin = await raw('Q', 'erin');
  const frank = await raw('Q', 'frank');
  const gina = await raw('Q', 'gina');
  // erin's registration reaches P before her forwarded join: both leave Q on one Redis connection, in order.
  await join(dave, 'crash');
  const je = await join(erin, 'crash');
  expect(je).toMatchObject({ memberId: 2, distributor: 1 });
  expect(await db.hGetAll('mtcall:room:crash')).toEqual({ owner: expect.stringMatching(/^P\//), gen: '1' }); // the owner: P's incarnation
  await join(frank, 'steady');
  const jg = await join(gina, 'steady');
  expect((await db.hGetAll('mtcall:room:steady')).owner).toMatch(/^Q\//);

  const killedAt = Date.now();
  instances.get('P')!.child.kill('SIGKILL');
  expect(await erin.next((m) => m.type === 'error' && m.code === 'room-lost', 30_000)).toMatchObject({ roomId: 'crash' });
  const lostMs = Date.now() - killedAt;
  const again = await join(erin, 'crash');
  expect(again).toMatchObject({ memberId: 1, distributor: 1, members: [{ userId: 'erin' }] });
  const taken = await db.hGetAll('mtcall:room:crash');
  expect(taken.owner).toMatch(/^Q\//);
  expect(Number(taken.gen)).toBeGreaterThan(1);

  const value = bytesToBase64(sha256(new Uint8Array([5])));
  gina.send({ type: 'roomCode', roomId: 'steady', epoch: 1, step: 'commit', value });
  expect(await frank.next('roomCode', 30_000)).toMatchObject({ from: jg.memberId, value });
  for (const r of [frank, gina]) expect(r.received.some((m) => m.type === 'error' || (m.type === 'roomMembers' && m.left !== undefined))).toBe(false);
  console.log(`room owner SIGKILLed: its member on the other instance told room-lost after ${lostMs} ms (TTL ${TTL_S} s, heartbeat every ${TTL_S / 3} s)`);
});
