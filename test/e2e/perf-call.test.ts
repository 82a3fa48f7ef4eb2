// What a frame costs inside a real 1:1 Chromium call (issue 17), for docs/PERFORMANCE.md: MTCALL_PERF_CALL=1.
// Two headless Chromium pages call each other through the demo (fake camera 640×480 and microphone); the worker's
// own counters (sealMicros/openMicros, and the part of them spent waiting on awaits) are read over two windows —
// the first seconds of media and the steady state after — and each worker thread's CPU time comes from the kernel
// (/proc/<renderer>/task/<tid>, the thread Chromium names DedicatedWorker), so the CPU share is the process's own
// accounting, not an estimate from timers. Prints one line per window and side; asserts only that media flowed.
// Options: MTCALL_PERF_SECONDS (steady window, default 20), MTCALL_PERF_TRANSFORM (force the encoded-transform API),
// MTCALL_PERF_ASYNC_THRESHOLD (the worker's switch to Web Crypto), MTCALL_PERF_PROFILE=1 (V8's sampling profile of
// both workers over the steady window, self time by function: worker-profile.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, launchChromium, openPeer, snapshot, startDemo, until, type Snapshot } from './harness.js';
import { workerThreadsCpu } from './worker-cpu.js';
import { WorkerProfiler } from './worker-profile.js';

/** MTCALL_PERF_PROFILE=1: V8's sampling profile of both workers over the steady window (where the CPU goes). */
const PROFILE = process.env['MTCALL_PERF_PROFILE'] === '1';
/** MTCALL_PERF_TRANSFORM=script-transform|encoded-streams forces Chromium's encoded-transform API (default: the product's). */
const TRANSFORM = process.env['MTCALL_PERF_TRANSFORM'];
/** MTCALL_PERF_ASYNC_THRESHOLD=<bytes>: the worker's switch to Web Crypto (default: the product's). */
const THRESHOLD = process.env['MTCALL_PERF_ASYNC_THRESHOLD'];
const extra = { ...(TRANSFORM ? { transform: TRANSFORM } : {}), ...(THRESHOLD ? { asyncThreshold: THRESHOLD } : {}) };
const DEVTOOLS_PORT = 9400 + Math.floor(Math.random() * 500);

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
    browser = PROFILE ? await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, `--remote-debugging-port=${DEVTOOLS_PORT}`] }) : await launchChromium();
  });
  afterAll(async () => {
    for (const page of pages) await page.context().close();
    await server?.close();
    await browser?.close();
  });

  it('first seconds and steady state, per side', async () => {
    const seconds = Number(process.env['MTCALL_PERF_SECONDS'] ?? 20);
    server = await startDemo();
    const bob = await openPeer(browser, server.url, { name: 'bob', autoaccept: true, ...extra });
    pages.push(bob);
    await until(async () => server.signaling.core.stats.users, (n) => n >= 1, 'bob online', 30_000);
    const alice = await openPeer(browser, server.url, { name: 'alice', call: 'bob', ...extra });
    pages.push(alice);
    const begin = await until(() => sample(alice, bob), (s) => s.snaps.every((x) => (x.transport?.sealed.frames ?? 0) > 0), 'first frames sealed');
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const early = await sample(alice, bob);
    const profiler = PROFILE ? await WorkerProfiler.start(DEVTOOLS_PORT, 'worker') : undefined;
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const late = await sample(alice, bob);
    const profile = await profiler?.stop();
    console.log(`encoded-transform API: ${late.snaps.map((x) => x.mode).join(' / ')}; Web Crypto from ${THRESHOLD ?? 'the default'} B`);
    report('first 5 s', begin, early);
    report(`next ${seconds} s`, early, late);
    if (profile) {
      const frames = [0, 1].reduce((n, i) => n + late.snaps[i]!.transport!.sealed.frames - early.snaps[i]!.transport!.sealed.frames + late.snaps[i]!.transport!.opened.frames - early.snaps[i]!.transport!.opened.frames, 0);
      const busy = profile.rows.filter((r) => r.name !== '(idle)').reduce((n, r) => n + r.selfMs, 0);
      console.log(`profile of ${profile.workers} workers: ${profile.totalMs.toFixed(0)} ms sampled, ${busy.toFixed(0)} ms not idle = ${((busy * 1000) / frames).toFixed(0)} µs per frame (${frames} frames); self time by function:`);
      for (const row of profile.rows.slice(0, 40)) console.log(`  ${((row.selfMs * 1000) / frames).toFixed(1).padStart(7)} µs/frame ${((row.selfMs / busy) * 100).toFixed(1).padStart(5)} %  ${row.name} ${row.where}`);
    }
    for (const s of late.snaps) expect(s.inbound?.videoFramesDecoded ?? 0).toBeGreaterThan(30);
  });
});
