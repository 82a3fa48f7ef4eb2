// What a frame costs inside a real 1:1 Chromium call (issue 17), for docs/PERFORMANCE.md: MTCALL_PERF_CALL=1.
// Two headless Chromium pages call each other through the demo (fake camera 640×480 and microphone); the worker's
// own counters (sealMicros/openMicros, and the part of them spent waiting on awaits) are read over two windows —
// the first seconds of media and the steady state after — and each worker thread's CPU time comes from the kernel
// (/proc/<renderer>/task/<tid>, the thread Chromium names DedicatedWorker), so the CPU share is the process's own
// accounting, not an estimate from timers. Prints one line per window and side; asserts only that media flowed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { launchChromium, openPeer, snapshot, startDemo, until, type Snapshot } from './harness.js';
import { workerThreadsCpu } from './worker-cpu.js';

interface Sample {
  at: number;
  snaps: [Snapshot, Snapshot];
  cpu: Map<string, number>;
}

async function sample(alice: Page, bob: Page): Promise<Sample> {
  const snaps = await Promise.all([snapshot(alice), snapshot(bob)]);
  return { at: performance.now(), snaps, cpu: workerThreadsCpu() };
}

function report(label: string, from: Sample, to: Sample): void {
  const seconds = (to.at - from.at) / 1000;
  ['alice', 'bob'].forEach((who, i) => {
    const a = from.snaps[i]!.transport!;
    const b = to.snaps[i]!.transport!;
    const sealed = b.sealed.frames - a.sealed.frames;
    const opened = b.opened.frames - a.opened.frames;
    const per = (micros: number, frames: number) => (frames > 0 ? (micros / frames).toFixed(1) : '—');
    console.log(
      `${label} ${who}: ${seconds.toFixed(1)} s, sealed ${sealed} frames (${per(b.sealed.bytes - a.sealed.bytes, sealed)} B avg) ` +
        `${per(b.sealMicros - a.sealMicros, sealed)} µs/frame (waiting ${per(b.sealWaitMicros - a.sealWaitMicros, sealed)}), ` +
        `opened ${opened} ${per(b.openMicros - a.openMicros, opened)} µs/frame (waiting ${per(b.openWaitMicros - a.openWaitMicros, opened)})`,
    );
  });
  const used = [...to.cpu].map(([tid, cpu]) => [tid, cpu - (from.cpu.get(tid) ?? 0)] as const);
  const shares = used.map(([tid, cpu]) => `${tid} ${((cpu / seconds) * 100).toFixed(2)} %`);
  const frames = [0, 1].reduce((n, i) => n + to.snaps[i]!.transport!.sealed.frames - from.snaps[i]!.transport!.sealed.frames + to.snaps[i]!.transport!.opened.frames - from.snaps[i]!.transport!.opened.frames, 0);
  const cpu = used.reduce((n, [, c]) => n + c, 0);
  console.log(
    `${label} worker threads' CPU (kernel accounting, % of one core): ${shares.join(', ')}; ` +
      `${((cpu * 1e6) / frames).toFixed(0)} µs of worker CPU per frame sealed or opened (${frames} frames); backend ${to.snaps[0]!.transport!.backend ?? '?'}`,
  );
}

describe.runIf(process.env['MTCALL_PERF_CALL'] === '1')('what a frame costs in a 1:1 Chromium call', () => {
  let browser: Browser;
  let server: RunningDemoServer;
  const pages: Page[] = [];
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const page of pages) await page.context().close();
    await server?.close();
    await browser?.close();
  });

  it('first seconds and steady state, per side', async () => {
    const seconds = Number(process.env['MTCALL_PERF_SECONDS'] ?? 20);
    server = await startDemo();
    const bob = await openPeer(browser, server.url, { name: 'bob', autoaccept: true });
    pages.push(bob);
    await until(async () => server.signaling.core.stats.users, (n) => n >= 1, 'bob online', 30_000);
    const alice = await openPeer(browser, server.url, { name: 'alice', call: 'bob' });
    pages.push(alice);
    const begin = await until(() => sample(alice, bob), (s) => s.snaps.every((x) => (x.transport?.sealed.frames ?? 0) > 0), 'first frames sealed');
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const early = await sample(alice, bob);
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const late = await sample(alice, bob);
    report('first 5 s', begin, early);
    report(`next ${seconds} s`, early, late);
    for (const s of late.snaps) expect(s.inbound?.videoFramesDecoded ?? 0).toBeGreaterThan(30);
  });
});
