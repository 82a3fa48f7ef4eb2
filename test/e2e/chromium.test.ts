import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { both, duplicateAllowance, duplicates, harmfulDrops, launchChromium, openPeer, startDemo, until, type Snapshot } from './harness.js';

let browser: Browser;
let server: RunningDemoServer;
const pages: Page[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  for (const page of pages.splice(0)) await page.context().close();
  await server?.close();
});

async function call(params: { alice?: Record<string, string | true>; bob?: Record<string, string | true>; mitm?: boolean } = {}): Promise<[Page, Page]> {
  server = await startDemo({ mitm: params.mitm ?? false });
  const bob = await openPeer(browser, server.url, { name: 'bob', autoaccept: true, ...params.bob });
  pages.push(bob);
  await until(async () => (await server.signaling.core.stats).users, (n) => n >= 1, 'bob online', 30_000);
  const alice = await openPeer(browser, server.url, { name: 'alice', call: 'bob', ...params.alice });
  pages.push(alice);
  return [alice, bob];
}

const flowing = ([a, b]: [Snapshot, Snapshot], frames = 30) =>
  (a.inbound?.videoFramesDecoded ?? 0) >= frames && (b.inbound?.videoFramesDecoded ?? 0) >= frames &&
  (a.inbound?.audioPacketsReceived ?? 0) >= 50 && (b.inbound?.audioPacketsReceived ?? 0) >= 50;

describe('Chromium ↔ Chromium through the real signaling server', () => {
  it('both sides show the same emoji; video decodes, audio arrives; every frame sealed and opened, no drops', async () => {
    const [alice, bob] = await call();
    const [a, b] = await until(both(alice, bob), (s) => flowing(s), 'media flowing both ways');
    expect(a.emoji).toHaveLength(4);
    expect(a.emoji).toEqual(b.emoji);
    expect(a.callState).toBe('established');
    for (const s of [a, b]) {
      expect(harmfulDrops(s), JSON.stringify(s.transport!.dropped) + ' ' + s.transport!.lastError).toBe(0);
      expect(duplicates(s)).toBeLessThanOrEqual(duplicateAllowance(s));
      expect(s.transport!.sealed.frames).toBeGreaterThan(50);
      expect(s.transport!.opened.frames).toBeGreaterThan(50);
      // Every sealed frame's bytes differ from its plaintext: nothing left the worker in the clear.
      expect(s.transport!.ciphertextDiffers).toBe(s.transport!.sealed.frames);
      expect(s.inbound!.connectionState).toBe('connected');
    }
    console.log(`empty (DTX) frames, sealed like any other: alice ${a.transport!.empty}, bob ${b.transport!.empty}`);
    // Frames one side sealed are the frames the other opened (minus those still in flight).
    expect(b.transport!.opened.frames).toBeLessThanOrEqual(a.transport!.sealed.frames);
    expect(b.transport!.opened.frames).toBeGreaterThan(a.transport!.sealed.frames * 0.8);
  });

  it('the encryption is real: a receiver with a wrong key decodes nothing and counts auth drops', async () => {
    const [alice, bob] = await call({ bob: { wrongkey: true } });
    const [a, b] = await until(both(alice, bob), ([x, y]) => (x.transport?.dropped.auth ?? 0) >= 50 && (y.transport?.dropped.auth ?? 0) >= 50 && (y.inbound?.audioPacketsReceived ?? 0) >= 50, 'auth drops on both sides');
    expect(a.emoji).toEqual(b.emoji); // the signaling key is right; only the media key is wrong
    for (const s of [a, b]) {
      expect(s.inbound!.videoFramesDecoded).toBe(0);
      expect(s.transport!.opened.frames).toBe(0);
      expect(s.inbound!.audioPacketsReceived).toBeGreaterThan(0); // packets arrive, nothing opens
    }
  });

  it('with --mitm the call connects but the emoji differ (and no media opens)', async () => {
    const [alice, bob] = await call({ mitm: true });
    const [a, b] = await until(both(alice, bob), ([x, y]) => x.inbound?.connectionState === 'connected' && y.inbound?.connectionState === 'connected' && (x.transport?.dropped.auth ?? 0) > 20, 'a connected call');
    expect(a.emoji).toHaveLength(4);
    expect(b.emoji).toHaveLength(4);
    expect(a.emoji).not.toEqual(b.emoji);
    expect(a.transport!.opened.frames).toBe(0);
  });
});

describe('two video tracks (camera and a second capture, as a screen share): each stream bound to its own mid', () => {
  it('both video streams decode on the other side; no frame is refused as wrong-stream or dropped otherwise', async () => {
    const [alice, bob] = await call({ alice: { twoVideoTracks: true } });
    const [a, b] = await until(both(alice, bob), ([x, y]) => flowing([x, y]) && (y.inbound?.videoStreamsDecoding ?? 0) >= 2, 'two video streams decoding at bob');
    for (const s of [a, b]) {
      expect(harmfulDrops(s), JSON.stringify(s.transport!.dropped) + ' ' + s.transport!.lastError).toBe(0);
      expect(s.transport!.dropped['wrong-stream']).toBe(0);
    }
    expect(b.inbound!.videoStreamsDecoding).toBe(2);
    expect(b.transport!.opened.frames).toBeGreaterThan(a.transport!.sealed.frames * 0.8);
  });
});

describe('the seq limit (2^30) aborts the call, as the spec says', () => {
  it('a caller whose counter starts 400 below 2^30 (test worker option) ends the call with seq-exhausted on both sides', async () => {
    const [alice, bob] = await call({ alice: { seqStart: String(2 ** 30 - 400) } });
    const [a, b] = await until(both(alice, bob), ([x, y]) => x.endReason !== undefined && y.endReason !== undefined, 'the call to end on both sides');
    expect(a.endReason).toBe('seq-exhausted');
    expect(b.endReason).toBe('seq-exhausted');
    for (const s of [a, b]) expect(s.status).toBe('The call reached its message limit and was ended for safety.');
    expect(a.emoji).toBeUndefined(); // the call is over
  });
});

describe('each video codec, forced with setCodecPreferences, and Opus', () => {
  it.each(['VP8', 'VP9', 'H264'])('%s', async (codec) => {
    const [alice, bob] = await call({ alice: { codec }, bob: { codec } });
    const [a, b] = await until(both(alice, bob), (s) => flowing(s, 20), `${codec} frames decoding`);
    console.log(`${codec}: opened ${a.transport!.opened.frames}/${b.transport!.opened.frames}, duplicates dropped as replay ${duplicates(a)}/${duplicates(b)}`);
    for (const s of [a, b]) {
      expect(s.inbound!.videoCodec?.toLowerCase()).toBe(`video/${codec.toLowerCase()}`);
      expect(s.inbound!.audioCodec?.toLowerCase()).toBe('audio/opus');
      expect(harmfulDrops(s), JSON.stringify(s.transport!.dropped) + ' ' + s.transport!.lastError).toBe(0);
      expect(duplicates(s)).toBeLessThanOrEqual(duplicateAllowance(s));
    }
  });
});

describe('the demo as a person uses it', () => {
  it('sign in, see who is online, call, accept, compare emoji, mute, hang up; errors in words', async () => {
    server = await startDemo();
    const alice = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    pages.push(alice, bob);
    for (const [page, name] of [[alice, 'alice'], [bob, 'bob']] as const) {
      await page.goto(server.url);
      await page.fill('#name', name);
      await page.click('#join');
    }
    await alice.click('[data-call="bob"]');
    await bob.waitForSelector('#incoming', { timeout: 30_000 });
    expect(await bob.textContent('#incoming')).toContain('alice');
    await bob.click('#accept');
    await alice.waitForSelector('#emoji', { timeout: 30_000 });
    await bob.waitForSelector('#emoji', { timeout: 30_000 });
    expect(await alice.textContent('#emoji')).toBe(await bob.textContent('#emoji'));
    expect(await alice.textContent('#status')).toContain('End-to-end encrypted');
    await alice.click('#mute');
    await bob.waitForFunction(() => document.querySelector('#status')?.textContent?.includes('they are muted'), null, { timeout: 30_000 });
    await alice.click('#hangup');
    await bob.waitForSelector('#emoji', { state: 'detached', timeout: 30_000 });
    expect(await bob.textContent('#status')).toContain('The call ended.');
    // Calling someone who declines: the caller reads why.
    await bob.click('[data-call="alice"]');
    await alice.waitForSelector('#decline', { timeout: 30_000 });
    await alice.click('#decline');
    await bob.waitForSelector('#toast', { timeout: 30_000 });
    expect(await bob.textContent('#toast')).toBe('The call was declined.');
  });
});
