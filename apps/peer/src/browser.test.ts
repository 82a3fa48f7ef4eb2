import { existsSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startDemoServer, type RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { startPeer, type RunningPeer } from './run.js';

// The same headless Chromium as test/e2e: Debian's, fake camera and microphone (the microphone is a beep).
const CHROMIUM = process.env['MTCALL_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
];

interface Snapshot {
  emoji?: string[];
  callState?: string;
  transport?: { sealed: { frames: number }; opened: { frames: number }; dropped: Record<string, number> };
  inbound?: { audioPacketsReceived: number; audioSamplesReceived: number; connectionState: string };
}

let browser: Browser;
let server: RunningDemoServer | undefined;
const pages: Page[] = [];
const peers: RunningPeer[] = [];

beforeAll(async () => {
  if (existsSync(CHROMIUM)) browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  for (const page of pages.splice(0)) await page.context().close();
  for (const peer of peers.splice(0)) await peer.close();
  await server?.close();
});

async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)?.slice(0, 2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function openPage(params: Record<string, string>): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  pages.push(page);
  page.on('pageerror', (error) => console.error(`[${params['name']}] page error:`, error.message));
  await page.goto(`${server!.url}?${new URLSearchParams(params)}`);
  return page;
}

const snapshot = (page: Page): Promise<Snapshot> => page.evaluate(() => (globalThis as unknown as { mtcallDemo: { refresh(): Promise<Snapshot> } }).mtcallDemo.refresh());

async function browserCallsPeer(options: { wrongKey?: boolean; video?: boolean } = {}) {
  server = await startDemoServer({ port: 0, app: 'test' }); // the test build: the page runs the call from URL parameters
  const signal = server.url.replace(/^http/, 'ws') + 'signal';
  const bot = await startPeer({ server: signal, user: 'bot', send: { type: 'tone', frequency: 660 }, ...(options.wrongKey ? { wrongKey: true } : {}) });
  peers.push(bot);
  const page = await openPage({ name: 'alice', call: 'bot', ...(options.video ? {} : { audioOnly: '1' }) });
  return { bot, page };
}

describe.skipIf(!existsSync(CHROMIUM))('headless Chromium ↔ mtcall-peer through the demo server', () => {
  it('Chromium calls the peer: same emoji; the peer decodes the fake microphone and finds its beep; the browser hears the peer', async () => {
    const { bot, page } = await browserCallsPeer();
    const r = await until(() => bot.report(), (x) => (x?.audio.seconds ?? 0) >= 3 && (x?.audio.dominantHz ?? 0) > 0, 'the peer decoding 3 s of audio');
    const s = await until(() => snapshot(page), (x) => (x.inbound?.audioSamplesReceived ?? 0) >= 48_000 && (x.transport?.opened.frames ?? 0) >= 50, 'the browser hearing the peer');
    console.log(`peer heard ${r!.audio.dominantHz.toFixed(1)} Hz, rms ${r!.audio.rms.toFixed(3)}, ${r!.audio.decoded} frames decoded, ${r!.audio.empty} empty; browser opened ${s.transport!.opened.frames}`);
    expect(s.emoji).toHaveLength(4);
    expect(s.emoji).toEqual(r!.emoji);
    expect(r!.dropped, JSON.stringify(r!.crypto.dropped)).toBe(0);
    expect(r!.audio.decodeErrors).toBe(0);
    expect(r!.audio.rms).toBeGreaterThan(0.001);
    expect(Math.abs(r!.audio.dominantHz - FAKE_BEEP_HZ), `heard ${r!.audio.dominantHz} Hz`).toBeLessThan(15);
    const dropped = Object.entries(s.transport!.dropped).filter(([k]) => k !== 'replay').reduce((a, [, v]) => a + v, 0);
    expect(dropped, JSON.stringify(s.transport!.dropped)).toBe(0);
  });

  it('Chromium calls the peer with video (VP8, the default): the peer reassembles the sealed frames from RTP and opens them', async () => {
    const { bot } = await browserCallsPeer({ video: true });
    const r = await until(() => bot.report(), (x) => (x?.video.framesOpened ?? 0) >= 20 && (x?.audio.decoded ?? 0) >= 20, 'the peer opening 20 video frames');
    const v = r!.video;
    console.log(`peer video: ${v.packets} packets, ${v.frames} frames, ${v.framesOpened} opened (${v.keyFrames} key, ${v.bytesOpened} bytes), codecs ${v.codecs.join(',')}, dropped ${JSON.stringify(v.dropped)}`);
    expect(v.codec).toBe('VP8');
    expect(v.codecs.map((c) => c.toLowerCase())).toEqual(['video/vp8']);
    expect(v.keyFrames).toBeGreaterThanOrEqual(1);
    expect(v.malformedPackets).toBe(0);
    const bad = Object.entries(v.dropped).filter(([k]) => k !== 'incomplete' && k !== 'replay').reduce((a, [, n]) => a + n, 0);
    expect(bad, JSON.stringify(v.dropped)).toBe(0);
    expect(r!.dropped, JSON.stringify(r!.crypto.dropped)).toBe(0);
  });

  it('with a wrong key the peer decodes nothing and counts auth drops', async () => {
    const { bot } = await browserCallsPeer({ wrongKey: true });
    const r = await until(() => bot.report(), (x) => (x?.crypto.dropped.auth ?? 0) >= 50, 'auth drops');
    expect(r!.audio.decoded).toBe(0);
    expect(r!.crypto.opened.frames).toBe(0);
  });

  it('the peer calls Chromium: the browser opens and plays the peer\'s sealed tone', async () => {
    server = await startDemoServer({ port: 0, app: 'test' });
    const signal = server.url.replace(/^http/, 'ws') + 'signal';
    const page = await openPage({ name: 'carol', autoaccept: '1', audioOnly: '1' });
    await until(() => server!.signaling.core.stats.users, (n) => n >= 1, 'carol online', 30_000);
    const bot = await startPeer({ server: signal, user: 'bot', call: 'carol', send: { type: 'tone', frequency: 660 } });
    peers.push(bot);
    const s = await until(() => snapshot(page), (x) => (x.inbound?.audioSamplesReceived ?? 0) >= 96_000 && (x.transport?.opened.frames ?? 0) >= 100, 'carol hearing the peer');
    const r = bot.report()!;
    expect(s.emoji).toEqual(r.emoji);
    expect(s.transport!.opened.frames).toBeLessThanOrEqual(r.crypto.sealed.frames);
    const dropped = Object.entries(s.transport!.dropped).filter(([k]) => k !== 'replay').reduce((a, [, v]) => a + v, 0);
    expect(dropped, JSON.stringify(s.transport!.dropped)).toBe(0);
    // And the other way on the same call: the peer opens Carol's microphone.
    await until(() => bot.report(), (x) => (x?.audio.decoded ?? 0) >= 50, 'the peer hearing carol');
  });
});

/** Chromium's fake audio capture device: 20 ms beeps of 400 Hz (media/audio/fake_audio_input_stream.cc, kBeepFrequency). */
const FAKE_BEEP_HZ = 400;
