/**
 * The SDK rejoins a lost room by itself (issue 15 follow-up): alice's client (endpoints A then B) and bob's (B) are in
 * a room owned by A. A stops: bob is told `room-lost` by B, alice's connection drops and comes back on B; both room
 * sessions emit `rejoining`, join again on B (a new session: new member numbers, epoch from 1, a new room code),
 * send their tracks again and decode each other, with one new room code on both and no authentication failure. The
 * old comparison does not carry over: the security state went back to `agreeing` and the code was cleared first.
 * Alice's microphone was off when the room was lost: it is sent again paused.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Sfu } from '@mtcall/sfu';
import { startLocalRedis, type LocalRedis } from '@mtcall/signaling/server';
import { launchRoomChromium, openMember, signalUrl, snap, startRoomServer, waitFor, type RoomServer, type RoomSnapshot } from './room-harness.js';

let browser: Browser;
let redis: LocalRedis;
const servers: RoomServer[] = [];
const sfus: Sfu[] = [];
const pages: Page[] = [];

async function instance(id: string): Promise<RoomServer> {
  const sfu = await Sfu.start({ workers: 1 });
  sfus.push(sfu);
  const server = await startRoomServer({ redis: { url: redis.url, instanceId: id, instanceTtlMs: 3000 } }, sfu);
  servers.push(server);
  return server;
}

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

const event = (s: RoomSnapshot, name: string) => s.events.find((e) => e.event === name);
/** The newest room code logged at or after `from` (page time), for the epoch the session holds. */
const codeSince = (s: RoomSnapshot, from: number) => s.codes.filter((c) => c.t >= from && c.epoch === s.epoch?.held).at(-1)?.emoji;
const framesSince = (s: RoomSnapshot, memberId: number, from: number) => (s.frames[`${memberId}/video`] ?? []).filter((t) => t >= from).length;

/**
 * After their `rejoined`: each decodes the other's new video (and hears its audio, but for members whose microphone
 * is off: `muted`, by index), one epoch and one new code on both.
 */
function decodeAgain(snaps: RoomSnapshot[], frames: number, muted: number[]): boolean {
  const rejoined = snaps.map((s) => event(s, 'rejoined'));
  if (rejoined.some((e) => !e)) return false;
  const ids = rejoined.map((e) => e!.value['memberId'] as number);
  return snaps.every((s, i) => snaps.every((_, j) => i === j || (framesSince(s, ids[j]!, rejoined[i]!.t) >= frames && (muted.includes(j) || (s.energy[`${ids[j]}/audio`] ?? 0) > 0.001)))) &&
    new Set(snaps.map((s) => s.epoch?.held)).size === 1 &&
    new Set(snaps.map((s) => codeSince(s, event(s, 'rejoining')!.t))).size === 1 && codeSince(snaps[0]!, event(snaps[0]!, 'rejoining')!.t) !== undefined &&
    snaps.every((s) => s.security === 'media-protected');
}

describe('the SDK rejoins a room whose instance was lost', () => {
  it('A stops: both sessions rejoin on B by themselves, decode each other, one new room code, no auth drops', async () => {
    const a = await instance('A');
    const b = await instance('B');
    // Alice's page comes from B's origin (its room worker is loaded again on rejoining); her signaling goes to A first.
    const alice = await openMember(browser, b, 'alice', 'moving', { signals: `${signalUrl(a, 'alice')} ${signalUrl(b, 'alice')}` });
    pages.push(alice);
    await waitFor(() => snap(alice), (s) => s.joined || s.error !== null);
    const bob = await openMember(browser, b, 'bob', 'moving');
    pages.push(bob);
    const before = await waitFor(() => Promise.all([snap(alice), snap(bob)]), (s) =>
      s.every((x) => x.joined && x.security === 'media-protected' && x.codes.some((c) => c.epoch === x.epoch?.held)) && new Set(s.map((x) => x.epoch?.held)).size === 1);
    expect(a.signaling.cluster!.stats.ownedRooms).toBe(1);
    const oldCode = before[0]!.codes.filter((c) => c.epoch === before[0]!.epoch?.held).at(-1)!.emoji;

    // Alice's microphone is off when the room is lost: it stays off after rejoining.
    await alice.evaluate(() => (window as unknown as { room: { setMicrophone(on: boolean): Promise<void> } }).room.setMicrophone(false));
    const stopped = Date.now();
    await a.close();
    const after = await waitFor(() => Promise.all([snap(alice), snap(bob)]), (s) => decodeAgain(s, 15, [0]));
    console.log(`owner stopped → both rejoined and decode each other after ${Date.now() - stopped} ms`, after.map((s) => ({
      rejoining: event(s, 'rejoining')?.value, rejoined: { ...event(s, 'rejoined')?.value, members: undefined }, epoch: s.epoch, code: codeSince(s, event(s, 'rejoining')!.t), oldCode,
      auth: s.stats?.dropped['auth'],
    })));

    expect(b.signaling.cluster!.stats.ownedRooms).toBe(1);
    // Both sent their microphone and camera again, on B's SFU; alice's microphone still paused, and bob sees it so.
    const aliceId = event(after[0]!, 'rejoined')!.value['memberId'] as number;
    expect(b.sfu.producers('moving').map((p) => `${p.memberId === aliceId ? 'alice' : 'bob'}/${p.source}/${p.paused}`).sort())
      .toEqual(['alice/audio/true', 'alice/video/false', 'bob/audio/false', 'bob/video/false']);
    expect(await alice.evaluate(() => (window as unknown as { room: { microphoneOn: boolean; cameraOn: boolean } }).room.microphoneOn)).toBe(false);
    const bobSees = await bob.evaluate(() => (window as unknown as { room: { tracks: { source: string; paused: boolean }[] } }).room.tracks.map((t) => `${t.source}/${t.paused}`).sort());
    expect(bobSees).toEqual(['audio/true', 'video/false']);
    for (const s of after) {
      const rejoining = event(s, 'rejoining')!;
      const rejoined = event(s, 'rejoined')!;
      expect(['lost', 'disconnected']).toContain(rejoining.value['reason']);
      expect(rejoined.t).toBeGreaterThanOrEqual(rejoining.t);
      expect(s.events.some((e) => e.event === 'left')).toBe(false);
      // The old verification does not carry over: back to `agreeing` on losing the room, then a new code to compare.
      const reset = s.events.find((e) => e.event === 'security' && e.value['state'] === 'agreeing' && e.t >= rejoining.t && e.t <= rejoined.t);
      expect(reset).toBeDefined();
      // A new session of the room: its keys start over (the first member back holds epoch 1 first), new codes only.
      if (rejoined.value['memberId'] === 1) expect(s.events.filter((e) => e.event === 'epoch' && e.t >= rejoining.t)[0]?.value['epoch']).toBe(1);
      expect(s.codes.filter((c) => c.t >= rejoining.t).map((c) => c.emoji)).not.toContain(oldCode);
      expect(s.stats!.dropped['auth'] ?? 0).toBe(0);
      expect(s.warnings).toEqual([]);
    }
    expect(event(after[0]!, 'rejoined')!.value['memberId']).not.toBe(event(after[1]!, 'rejoined')!.value['memberId']);
  });
});
