// What the room worker costs per remote sender (issue 17), for docs/PERFORMANCE.md: MTCALL_PERF_ROOM=1 (members:
// MTCALL_PERF_ROOM_MEMBERS, default 3; window: MTCALL_PERF_SECONDS, default 20). Chromium members in one room through
// the real SFU (room-harness.ts: fake camera 320×240 at 15 fps and microphone); once every member decodes every other,
// the room workers' own counters (frames sealed and opened, sealMicros/openMicros) and the kernel's CPU accounting of
// every worker thread (worker-cpu.ts) are read at the start and the end of the window. Prints one line per member and
// the totals; asserts only that media flowed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchRoomChromium, openMember, snap, startRoomServer, waitFor, type RoomServer, type RoomSnapshot } from './room-harness.js';
import { workerThreadsCpu } from './worker-cpu.js';

interface RoomStatsWithTimes {
  sealed: { frames: number; bytes?: number };
  opened: { frames: number; bytes?: number };
  sealMicros?: number;
  openMicros?: number;
  backend?: string;
}

describe.runIf(process.env['MTCALL_PERF_ROOM'] === '1')('what the room worker costs per remote sender', () => {
  let browser: Browser;
  let server: RoomServer;
  const pages: Page[] = [];
  beforeAll(async () => {
    browser = await launchRoomChromium();
    server = await startRoomServer();
  });
  afterAll(async () => {
    for (const page of pages) await page.context().close();
    await server?.close();
    await browser?.close();
  });

  it('worker CPU per member and per remote sender, steady state', async () => {
    const members = Number(process.env['MTCALL_PERF_ROOM_MEMBERS'] ?? 3);
    const seconds = Number(process.env['MTCALL_PERF_SECONDS'] ?? 20);
    for (let i = 0; i < members; i++) {
      pages.push(await openMember(browser, server, `member${i + 1}`, 'perf'));
      await waitFor(() => snap(pages.at(-1)!), (s) => s.joined || s.error !== null);
    }
    const all = () => Promise.all(pages.map(snap));
    const decodesEveryone = (snaps: RoomSnapshot[]) =>
      snaps.every((s) => snaps.every((o) => o.memberId === s.memberId || (s.frames[`${o.memberId}/video`]?.length ?? 0) >= 30));
    await waitFor(all, decodesEveryone);
    const begin = { at: performance.now(), snaps: await all(), cpu: workerThreadsCpu() };
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const end = { at: performance.now(), snaps: await all(), cpu: workerThreadsCpu() };
    const wall = (end.at - begin.at) / 1000;

    let sealedAll = 0;
    let openedAll = 0;
    end.snaps.forEach((s, i) => {
      const a = begin.snaps[i]!.stats as unknown as RoomStatsWithTimes;
      const b = s.stats as unknown as RoomStatsWithTimes;
      const sealed = b.sealed.frames - a.sealed.frames;
      const opened = b.opened.frames - a.opened.frames;
      sealedAll += sealed;
      openedAll += opened;
      const per = (micros: number, frames: number) => (frames > 0 ? (micros / frames).toFixed(1) : '—');
      console.log(
        `member ${s.memberId}: ${wall.toFixed(1)} s, sealed ${sealed} frames ${per((b.sealMicros ?? 0) - (a.sealMicros ?? 0), sealed)} µs/frame, ` +
          `opened ${opened} frames from ${members - 1} senders ${per((b.openMicros ?? 0) - (a.openMicros ?? 0), opened)} µs/frame; backend ${b.backend ?? '?'}`,
      );
    });
    const used = [...end.cpu].map(([tid, cpu]) => cpu - (begin.cpu.get(tid) ?? 0)).filter((cpu) => cpu > 0);
    const cpu = used.reduce((n, c) => n + c, 0);
    const perFrame = cpu / (sealedAll + openedAll);
    const perMemberShare = cpu / members / wall;
    // A member's worker seals its own frames and opens every other member's: the part spent opening, per sender,
    // assuming a frame costs the same sealed or opened (the 1:1 call measured them within 15 % of each other).
    const perSenderShare = (perFrame * openedAll) / members / (members - 1) / wall;
    console.log(
      `room of ${members}: ${used.length} worker threads used ${(cpu * 100 / wall).toFixed(2)} % of one core in all (kernel accounting); ` +
        `${(perFrame * 1e6).toFixed(0)} µs of worker CPU per frame sealed or opened (${sealedAll + openedAll} frames); ` +
        `${(perMemberShare * 100).toFixed(2)} % of a core per member's worker, of it ${(perSenderShare * 100).toFixed(2)} % per remote sender`,
    );
    expect(openedAll).toBeGreaterThan(0);
  });
});
