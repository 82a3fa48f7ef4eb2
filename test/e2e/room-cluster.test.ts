/**
 * A room across two signaling instances on Redis (issue 15): alice's page talks to instance A, bob's to instance B,
 * each instance with its own SFU. The room lives on the instance that claimed it first (A): bob's room frames and
 * key exchanges are forwarded there by B, and his media goes to A's SFU directly. Both decode each other's video and
 * audio, hold one epoch and show one room code. Then the owner stops: bob's session ends with `lost`, and joining
 * again puts the room on B (its own SFU), where a new member on A decodes him.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Sfu } from '@mtcall/sfu';
import { startLocalRedis, type LocalRedis } from '@mtcall/signaling/server';
import { launchRoomChromium, openMember, snap, startRoomServer, waitFor, type RoomServer, type RoomSnapshot } from './room-harness.js';

let browser: Browser;
let redis: LocalRedis;
const servers: RoomServer[] = [];
const sfus: Sfu[] = [];

/** An instance of the cluster: its own HTTP origin, signaling server and SFU (one worker). */
async function instance(id: string): Promise<RoomServer> {
  const sfu = await Sfu.start({ workers: 1 });
  sfus.push(sfu);
  const server = await startRoomServer({ redis: { url: redis.url, instanceId: id, instanceTtlMs: 3000 } }, sfu);
  servers.push(server);
  return server;
}
const pages: Page[] = [];

beforeAll(async () => {
  browser = await launchRoomChromium();
  redis = await startLocalRedis();
});
afterAll(async () => {
  for (const p of pages) await p.context().close();
  for (const s of servers) await s.close().catch(() => {});
  for (const sfu of sfus) sfu.close();
  await browser?.close();
  await redis?.stop();
});

const currentCode = (s: RoomSnapshot) => s.codes.find((c) => c.epoch === s.epoch?.held)?.emoji;
const framesFrom = (s: RoomSnapshot, memberId: number) => s.frames[`${memberId}/video`]?.length ?? 0;
const energyFrom = (s: RoomSnapshot, memberId: number) => s.energy[`${memberId}/audio`] ?? 0;
const decodeEachOther = (snaps: RoomSnapshot[], frames: number) =>
  snaps.every((x) => x.joined && !x.error) &&
  snaps.every((x) => snaps.every((y) => y.memberId === x.memberId || (framesFrom(x, y.memberId!) >= frames && energyFrom(x, y.memberId!) > 0.001))) &&
  new Set(snaps.map((s) => s.epoch?.held)).size === 1 && new Set(snaps.map(currentCode)).size === 1 && currentCode(snaps[0]!) !== undefined;

describe('a room across two signaling instances (Redis), real media', () => {
  it('members on A and B decode each other through the owner\'s SFU; the owner stops: lost, and the room starts again on B', async () => {
    const a = await instance('A');
    const b = await instance('B');
    const alice = await openMember(browser, a, 'alice', 'across');
    pages.push(alice);
    await waitFor(() => snap(alice), (s) => s.joined || s.error !== null);
    const bob = await openMember(browser, b, 'bob', 'across', { rejoin: 'off' }); // the manual path (room-rejoin.test.ts: the SDK's own)
    pages.push(bob);
    const snaps = await waitFor(() => Promise.all([snap(alice), snap(bob)]), (s) => decodeEachOther(s, 15));
    console.log('room across two instances:', snaps.map((s) => ({ member: s.memberId, epoch: s.epoch, code: currentCode(s), frames: Object.fromEntries(Object.entries(s.frames).map(([k, v]) => [k, v.length])) })));
    expect(a.signaling.cluster!.stats.ownedRooms).toBe(1);
    expect(b.signaling.cluster!.stats).toMatchObject({ ownedRooms: 0, remoteRooms: 1 });
    expect(b.sfu.producers('across')).toEqual([]); // bob's media went to A's SFU
    expect(a.sfu.producers('across').map((p) => p.memberId).sort()).toEqual([1, 1, 2, 2]);
    for (const s of snaps) {
      expect(s.warnings).toEqual([]);
      expect(s.security).toBe('media-protected');
    }

    // A stops (its clients drop, its heartbeat key is deleted): B sweeps it and tells bob the room is lost.
    const stopped = Date.now();
    await a.close();
    const lost = await waitFor(() => snap(bob), (s) => s.events.some((e) => e.event === 'left'));
    expect(lost.events.find((e) => e.event === 'left')?.value).toEqual({ reason: 'lost' });
    console.log(`owner stopped → bob's session lost after ${Date.now() - stopped} ms (TTL 3000 ms, heartbeat every 1000 ms)`);

    // Joining again claims the room on B; carol (a fresh page on B's origin, signaling to B) and dave (on a new
    // instance C) decode each other through B's SFU.
    const c = await instance('C');
    const carol = await openMember(browser, b, 'carol', 'across');
    pages.push(carol);
    await waitFor(() => snap(carol), (s) => s.joined || s.error !== null);
    const dave = await openMember(browser, c, 'dave', 'across');
    pages.push(dave);
    const again = await waitFor(() => Promise.all([snap(carol), snap(dave)]), (s) => decodeEachOther(s, 15));
    console.log('room again on B:', again.map((s) => ({ member: s.memberId, epoch: s.epoch, frames: Object.fromEntries(Object.entries(s.frames).map(([k, v]) => [k, v.length])) })));
    expect(again.map((s) => s.memberId)).toEqual([1, 2]);
    expect(b.signaling.cluster!.stats.ownedRooms).toBe(1);
    expect(b.sfu.producers('across')).toHaveLength(4);
  });
});
