/**
 * In-room controls (issue 13): two Chromium members through the real SFU. A member turns its camera off — the other
 * is told the track is paused and decodes no more of its video while its audio keeps flowing — and on again (video
 * resumes); the same for the microphone (the SFU holds the producer paused); a shared screen arrives as a track of
 * its own and ends when the share stops.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchRoomChromium, openMember, snap, startRoomServer, waitFor, type RoomServer, type RoomSnapshot } from './room-harness.js';

let browser: Browser;
let server: RoomServer;
let alice: Page;
let bob: Page;

beforeAll(async () => {
  browser = await launchRoomChromium();
  server = await startRoomServer();
});
afterAll(async () => {
  await alice?.context().close();
  await bob?.context().close();
  await browser?.close();
  await server?.close();
});

type Control = 'setCamera' | 'setMicrophone';
const control = (page: Page, method: Control, on: boolean) =>
  page.evaluate(([m, value]) => (window as unknown as { room: Record<string, (on: boolean) => Promise<void>> }).room[m as string]!(value as boolean), [method, on] as const);
const local = (page: Page) =>
  page.evaluate(() => {
    const room = (window as unknown as { room: { microphoneOn: boolean; cameraOn: boolean; screenSharing: boolean; localTracks: MediaStreamTrack[] } }).room;
    return { microphone: room.microphoneOn, camera: room.cameraOn, screen: room.screenSharing, live: room.localTracks.filter((t) => t.readyState === 'live').map((t) => t.kind) };
  });
const pausedEvents = (s: RoomSnapshot, memberId: number, source: string) =>
  s.events.filter((e) => e.event === 'track-paused' && e.value['memberId'] === memberId && e.value['source'] === source).map((e) => e.value['paused']);
const frames = (s: RoomSnapshot, key: string) => s.frames[key]?.length ?? 0;
const opened = (s: RoomSnapshot, memberId: number) => s.stats?.openedBySender[String(memberId)] ?? 0;

describe('in-room controls between two Chromium members', () => {
  let a: number;
  let video: string;

  it('both members decode each other', async () => {
    alice = await openMember(browser, server, 'alice', 'controls');
    await waitFor(() => snap(alice), (s) => s.joined || s.error !== null);
    bob = await openMember(browser, server, 'bob', 'controls');
    const [sa, sb] = await waitFor(() => Promise.all([snap(alice), snap(bob)]), ([x, y]) =>
      frames(y, `${x.memberId}/video`) >= 15 && frames(x, `${y.memberId}/video`) >= 15 && x.epoch?.sending === y.epoch?.sending);
    expect(sa.error).toBeNull();
    expect(sb.error).toBeNull();
    a = sa.memberId!;
    video = `${a}/video`;
    expect(await local(alice)).toEqual({ microphone: true, camera: true, screen: false, live: ['audio', 'video'] });
  });

  it('camera off: the other sees the track paused and decodes no more of it while audio flows; the camera is released', async () => {
    await control(alice, 'setCamera', false);
    const paused = await waitFor(() => snap(bob), (s) => pausedEvents(s, a, 'video').at(-1) === true);
    expect(await local(alice)).toEqual({ microphone: true, camera: false, screen: false, live: ['audio'] });
    expect(server.sfu.producers('controls').find((p) => p.memberId === a && p.source === 'video')?.paused).toBe(true);
    // Two seconds of alice's audio frames later (~100 opened), no more of her video was decoded (a frame or two
    // already on the way when the SFU paused may still show).
    const after = await waitFor(() => snap(bob), (s) => opened(s, a) >= opened(paused, a) + 100);
    console.log(`camera off: bob decoded ${frames(paused, video)} frames of alice's video when told, ${frames(after, video)} after ${opened(after, a) - opened(paused, a)} more of her frames opened`);
    expect(frames(after, video) - frames(paused, video)).toBeLessThanOrEqual(2);
    const track = await bob.evaluate((id) => (window as unknown as { room: { tracks: { memberId: number; source: string; paused: boolean }[] } }).room.tracks.find((t) => t.memberId === id && t.source === 'video')?.paused, a);
    expect(track).toBe(true);
  });

  it('camera on: a fresh camera track, the other sees the track resumed and decodes it again', async () => {
    const before = await snap(bob);
    await control(alice, 'setCamera', true);
    const resumed = await waitFor(() => snap(bob), (s) => pausedEvents(s, a, 'video').at(-1) === false && frames(s, video) >= frames(before, video) + 15);
    console.log(`camera on: bob decoded ${frames(resumed, video) - frames(before, video)} more frames of alice's video`);
    expect(await local(alice)).toEqual({ microphone: true, camera: true, screen: false, live: ['audio', 'video'] });
    expect(resumed.stats!.dropped['auth']).toBe(0);
  });

  it('microphone off and on: the SFU holds the producer paused, the other is told both', async () => {
    await control(alice, 'setMicrophone', false);
    await waitFor(() => snap(bob), (s) => pausedEvents(s, a, 'audio').at(-1) === true);
    expect(server.sfu.producers('controls').find((p) => p.memberId === a && p.kind === 'audio')?.paused).toBe(true);
    expect((await local(alice)).microphone).toBe(false);
    await control(alice, 'setMicrophone', true);
    await waitFor(() => snap(bob), (s) => pausedEvents(s, a, 'audio').at(-1) === false);
    expect(server.sfu.producers('controls').find((p) => p.memberId === a && p.kind === 'audio')?.paused).toBe(false);
  });

  it('a shared screen (a canvas here) arrives as its own track, sealed like the camera; stopping the share ends it', async () => {
    await alice.evaluate(async () => {
      const canvas = Object.assign(document.createElement('canvas'), { width: 320, height: 180 });
      const g = canvas.getContext('2d')!;
      let n = 0;
      setInterval(() => {
        g.fillStyle = `hsl(${(n += 7) % 360} 80% 50%)`;
        g.fillRect(0, 0, 320, 180);
        g.fillStyle = '#fff';
        g.fillText(String(n), 20 + (n % 200), 90);
      }, 66);
      const track = canvas.captureStream(15).getVideoTracks()[0]!;
      track.contentHint = 'detail';
      await (window as unknown as { room: { startScreenShare(t: MediaStreamTrack): Promise<void> } }).room.startScreenShare(track);
    });
    const shared = await waitFor(() => snap(bob), (s) => frames(s, `${a}/screen`) >= 10);
    expect(shared.tracks.some((t) => t.memberId === a && t.source === 'screen')).toBe(true);
    expect((await local(alice)).screen).toBe(true);
    await alice.evaluate(() => (window as unknown as { room: { stopScreenShare(): Promise<void> } }).room.stopScreenShare());
    const ended = await waitFor(() => snap(bob), (s) => s.events.some((e) => e.event === 'track-ended' && e.value['memberId'] === a));
    expect(ended.stats!.dropped['auth']).toBe(0);
    expect((await local(alice)).screen).toBe(false);
    expect(server.sfu.producers('controls').filter((p) => p.memberId === a).map((p) => p.source).sort()).toEqual(['audio', 'video']);
  });
});
