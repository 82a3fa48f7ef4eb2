/**
 * A room of one Chromium sender and Node bots (`mtcall-peer join`, `RoomBot`) through the real SFU: every bot takes
 * part in the key scheme (same room code as the browser), opens the browser's frames and decodes its audio; then the
 * load figures of issue 13 with 10 bots — the SFU workers' CPU, the bytes each receiver gets, each receiver's cost to
 * open a frame (docs/GROUP-CALLS.md).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Sfu } from '@mtcall/sfu';
import { RoomBot, type RoomBotReport } from '@mtcall/peer/dist/room-bot.js';
import { launchRoomChromium, openMember, snap, startRoomServer, waitFor, type RoomServer, type RoomSnapshot } from './room-harness.js';

const BOTS = Number(process.env['MTCALL_ROOM_BOTS'] ?? 10);

let browser: Browser;
let sfu: Sfu;
let server: RoomServer;
let sender: Page;
const bots: RoomBot[] = [];

beforeAll(async () => {
  browser = await launchRoomChromium();
  sfu = await Sfu.start({ workers: 2 });
  server = await startRoomServer({}, sfu);
});
afterAll(async () => {
  for (const bot of bots) await bot.leave();
  await sender?.context().close();
  await browser?.close();
  await server?.close();
  sfu?.close();
});

const code = (s: RoomSnapshot) => s.codes.find((c) => c.epoch === s.epoch?.held)?.emoji;
const reports = () => Promise.all(bots.map((b) => b.report()));
const fromSender = (r: RoomBotReport, id: number) => r.senders[id] ?? { audioDecoded: 0, videoFrames: 0, packets: 0, bytes: 0 };

describe(`one Chromium sender and ${BOTS} Node bots in a room`, () => {
  it('every bot holds the room code the browser shows, opens its video and decodes its audio', async () => {
    sender = await openMember(browser, server, 'speaker', 'townhall');
    const s0 = await waitFor(() => snap(sender), (s) => s.joined || s.error !== null);
    expect(s0.error).toBeNull();
    const speaker = s0.memberId!;
    for (let i = 0; i < BOTS; i++) bots.push(await RoomBot.join({ server: server.signaling.url.replace(/^ws:\/\/[^/]+/, server.url.replace(/^http/, 'ws').replace(/\/$/, '')), userId: `bot${i}`, roomId: 'townhall' }));
    const [page, all] = await waitFor(async () => [await snap(sender), await reports()] as const, ([p, rs]) =>
      code(p) !== undefined && rs.every((r) => r.code?.epoch === p.epoch?.held && r.code.emoji.join('') === code(p) && fromSender(r, speaker).audioDecoded >= 50 && fromSender(r, speaker).videoFrames >= 30));
    console.log(`room code ${code(page)} on the browser and ${all.length} bots, epoch ${page.epoch?.held}`);
    for (const r of all) {
      expect(r.warnings).toEqual([]);
      expect(r.crypto.dropped['auth']).toBe(0);
      expect(r.crypto.dropped['wrong-sender']).toBe(0);
    }
  });

  it('the figures: SFU CPU, bytes per receiver, each receiver\'s cost to open a frame', async () => {
    const speaker = (await snap(sender)).memberId!;
    const cpu0 = await sfu.workerStats();
    const r0 = await reports();
    const t0 = performance.now();
    // A window of 100 more video frames at every bot.
    const r1 = await waitFor(reports, (rs) => rs.every((r, i) => fromSender(r, speaker).videoFrames >= fromSender(r0[i]!, speaker).videoFrames + 100));
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = await sfu.workerStats();
    const cpuMs = cpu1.reduce((a, w) => a + w.cpuMs, 0) - cpu0.reduce((a, w) => a + w.cpuMs, 0);
    const bytes = r1.map((r, i) => fromSender(r, speaker).bytes - fromSender(r0[i]!, speaker).bytes);
    const frames = r1.map((r, i) => r.crypto.opened.frames - r0[i]!.crypto.opened.frames);
    const micros = r1.map((r, i) => r.openMicros - r0[i]!.openMicros);
    const perFrame = micros.reduce((a, b) => a + b, 0) / frames.reduce((a, b) => a + b, 0);
    const kbps = bytes.map((b) => (b * 8) / seconds / 1000);
    const stats = await snap(sender);
    console.log(JSON.stringify({
      bots: BOTS, seconds: +seconds.toFixed(1),
      sfuCpuPercentOfOneCore: +((cpuMs / (seconds * 1000)) * 100).toFixed(1),
      perReceiverKbps: { min: +Math.min(...kbps).toFixed(0), max: +Math.max(...kbps).toFixed(0) },
      sfuEgressKbps: +kbps.reduce((a, b) => a + b, 0).toFixed(0),
      framesOpenedPerReceiverPerSecond: +(frames.reduce((a, b) => a + b, 0) / frames.length / seconds).toFixed(1),
      openMicrosPerFrame: +perFrame.toFixed(1),
      senderSealMicrosPerFrame: stats.stats ? +(((stats.stats as unknown as { sealMicros: number }).sealMicros) / stats.stats.sealed.frames).toFixed(1) : null,
    }));
    expect(frames.every((f) => f > 0)).toBe(true);
  });
});
