/**
 * @mtcall/client in real Chromium through the real signaling server: the plain-HTML example places a call, and the
 * SDK's security states, ends and media controls are driven one by one (--mitm → keys-differ; "they match" →
 * verified; "they don't match" → verification-failed on both sides; camera on mid-call; screen sharing).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, until } from './harness.js';
import { startSdkServer, type SdkServer } from './sdk-server.js';

interface LogEntry {
  event: string;
  value: Record<string, unknown> & { state?: string; emoji?: string[]; reason?: string; by?: string; source?: string; kind?: string };
}
interface Stats {
  security: string;
  evidence: { framesOpened: number; authFailures: number };
  transport?: { opened: { frames: number }; sealed: { frames: number }; dropped: Record<string, number> };
  peer?: { videoFramesDecoded: number; path?: string };
}

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

async function sdkPage(server: SdkServer, userId: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (error) => console.error(`[${userId}] page error:`, error.message));
  await page.goto(`${server.url}sdk-test.html`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  await page.evaluate(async ({ url, userId }) => {
    const w = window as unknown as { sdk: typeof import('@mtcall/client'); client: import('@mtcall/client').MtcallClient; follow: (s: unknown) => unknown };
    w.client = await w.sdk.MtcallClient.connect({ url, userId, statsIntervalMs: 250 });
    w.client.on('incoming', (s) => w.follow(s));
  }, { url: server.signaling.url.replace(/^ws:\/\/[^/]+/, server.url.replace(/^http/, 'ws').replace(/\/$/, '')), userId });
  return page;
}

const log = (page: Page) => page.evaluate(() => (window as unknown as { log: LogEntry[] }).log);
const events = async (page: Page, event: string) => (await log(page)).filter((e) => e.event === event).map((e) => e.value);
const stats = (page: Page) => page.evaluate(() => (window as unknown as { sessions: { stats(): Promise<Stats> }[] }).sessions.at(-1)!.stats());
const session = <T>(page: Page, body: string) => page.evaluate(`(async () => { const s = window.sessions.at(-1); ${body} })()`) as Promise<T>;

/** alice calls bob (who accepts with `accept`), both reach `state`. */
async function call(alice: Page, bob: Page, media: { audio: boolean; video: boolean }, accept = media): Promise<void> {
  await alice.evaluate((m) => {
    const w = window as unknown as { client: import('@mtcall/client').MtcallClient; follow: (s: unknown) => unknown };
    w.follow(w.client.call('bob', m));
  }, media);
  await until(() => events(bob, 'error').then(async (errors) => ({ errors, rang: (await bob.evaluate(() => (window as unknown as { sessions: unknown[] }).sessions.length)) > 0 })), (v) => v.rang || v.errors.length > 0, 'bob rings');
  await bob.evaluate((m) => (window as unknown as { sessions: import('@mtcall/client').CallSession[] }).sessions.at(-1)!.accept(m), accept);
}

describe('the plain-HTML example (examples/call.html)', () => {
  let server: SdkServer;
  beforeAll(async () => {
    server = await startSdkServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('places a call in real Chromium: same emoji, media protected, video plays, verified, hung up with who and why', async () => {
    const open = async (name: string) => {
      const page = await (await browser.newContext()).newPage();
      page.on('pageerror', (error) => console.error(`[${name}] page error:`, error.message));
      await page.goto(`${server.url}examples/call.html`);
      await page.fill('#me', name);
      await page.click('#join');
      await page.waitForFunction(() => document.getElementById('status')!.textContent!.startsWith('signed in'));
      return page;
    };
    const alice = await open('alice');
    const bob = await open('bob');
    await alice.fill('#peer', 'bob');
    await alice.click('#call');
    await bob.waitForFunction(() => document.getElementById('status')!.textContent === 'alice is calling');
    await bob.click('#accept');
    const text = (page: Page, id: string) => page.evaluate((i) => document.getElementById(i)!.textContent ?? '', id);
    await until(() => Promise.all([text(alice, 'status'), text(bob, 'status')]), ([a, b]) => a === 'media-protected' && b === 'media-protected', 'media protected on both');
    const [emojiA, emojiB] = await Promise.all([text(alice, 'emoji'), text(bob, 'emoji')]);
    expect(emojiA).not.toBe('');
    expect(emojiA).toBe(emojiB);
    await until(() => bob.evaluate(() => (document.getElementById('remote') as HTMLVideoElement).videoWidth), (w) => w > 0, 'alice’s video plays at bob');
    await alice.click('#match');
    expect(await text(alice, 'status')).toBe('verified');
    await alice.click('#hangup');
    await until(() => Promise.all([text(alice, 'status'), text(bob, 'status')]), ([a, b]) => a === 'ended: hangup (local)' && b === 'ended: hangup (remote)', 'ended on both');
    await alice.context().close();
    await bob.context().close();
  });
});

describe('the four emoji as a person sees them', () => {
  it('all 333 display forms draw as colour glyphs with EMOJI_FONT_FAMILY in Debian’s Chromium (no black text glyphs, no tofu)', async () => {
    const server = await startSdkServer();
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}sdk-test.html`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const result = await page.evaluate(async () => {
      const sdk = (window as unknown as { sdk: typeof import('@mtcall/client') }).sdk;
      await document.fonts.load(`40px ${sdk.EMOJI_FONT_FAMILY}`, '😀');
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 64;
      const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
      // A colour (bitmap) emoji glyph ignores the fill colour; a text glyph or a tofu box is drawn in it. So draw
      // each emoji in black and in red: a colour glyph gives the same pixels both times, and draws something.
      const draw = (emoji: string, fill: string) => {
        ctx.fillStyle = '#fff';
        ctx.fillRect(0, 0, 64, 64);
        ctx.font = `40px ${sdk.EMOJI_FONT_FAMILY}`;
        ctx.fillStyle = fill;
        ctx.textBaseline = 'middle';
        ctx.fillText(emoji, 4, 32);
        return ctx.getImageData(0, 0, 64, 64).data;
      };
      const monochrome: string[] = [];
      for (const emoji of sdk.EMOJI_DISPLAY_TABLE) {
        const black = draw(emoji, '#000');
        const red = draw(emoji, '#f00');
        let differing = 0;
        let inked = 0;
        for (let i = 0; i < black.length; i += 4) {
          if (black[i] !== red[i] || black[i + 1] !== red[i + 1] || black[i + 2] !== red[i + 2]) differing++;
          if (black[i]! < 240 || black[i + 1]! < 240 || black[i + 2]! < 240) inked++;
        }
        if (differing > 0 || inked < 40) monochrome.push(emoji);
      }
      return { count: sdk.EMOJI_DISPLAY_TABLE.length, monochrome };
    });
    expect(result.count).toBe(333);
    expect(result.monochrome).toEqual([]);
    await page.context().close();
    await server.close();
  });
});

describe('CallSession security states and controls', () => {
  let server: SdkServer;
  let alice: Page;
  let bob: Page;
  const open = async (options: Parameters<typeof startSdkServer>[0] = {}) => {
    await server?.close();
    server = await startSdkServer(options);
    alice = await sdkPage(server, 'alice');
    bob = await sdkPage(server, 'bob');
  };
  afterAll(async () => {
    await server?.close();
  });
  const closePages = async () => {
    await alice?.context().close();
    await bob?.context().close();
  };

  it('honest call: agreeing → keys-agreed → media-protected, never "protected" before frames open; "they match" → verified', async () => {
    await open();
    await call(alice, bob, { audio: true, video: true });
    await until(() => Promise.all([stats(alice), stats(bob)]), ([a, b]) => a.security === 'media-protected' && b.security === 'media-protected', 'media-protected');
    for (const page of [alice, bob]) {
      const states = (await events(page, 'security')).map((v) => v.state);
      expect(states).toEqual(['keys-agreed', 'media-protected']);
      const s = await stats(page);
      expect(s.evidence.framesOpened).toBeGreaterThan(0);
      expect(s.transport!.dropped['auth']).toBe(0);
    }
    const [ka, kb] = await Promise.all([events(alice, 'keys'), events(bob, 'keys')]);
    expect(ka[0]!.emoji).toEqual(kb[0]!.emoji);
    await session(alice, 's.confirmEmoji(true)');
    expect((await events(alice, 'security')).at(-1)!.state).toBe('verified');
    expect((await events(bob, 'security')).at(-1)!.state).toBe('media-protected'); // bob has not confirmed
    await session(alice, 's.hangUp()');
    await until(() => events(bob, 'ended'), (e) => e.length === 1, 'bob sees the end');
    expect((await events(bob, 'ended'))[0]).toMatchObject({ reason: 'hangup', by: 'remote' });
    const aliceEnd = (await events(alice, 'ended'))[0]!;
    expect(aliceEnd).toMatchObject({ reason: 'hangup', by: 'local' });
    expect(aliceEnd['durationMs']).toBeGreaterThan(0);
    await closePages();
  });

  it('a rolling restart of the signaling server mid-call: media never stops, and a mute toggle gets through afterwards', async () => {
    await open();
    await call(alice, bob, { audio: true, video: true });
    await until(() => Promise.all([stats(alice), stats(bob)]), ([a, b]) => a.security === 'media-protected' && b.security === 'media-protected' && (b.peer?.videoFramesDecoded ?? 0) > 10, 'media flowing');
    const before = (await stats(bob)).peer!.videoFramesDecoded;
    await server.restartSignaling();
    // Both sides reconnect and re-join the call on the fresh instance (proofs from the key).
    await until(() => Promise.all([events(alice, 'signaling'), events(bob, 'signaling')]), ([a, b]) => a.some((v) => v['state'] === 'resumed') && b.some((v) => v['state'] === 'resumed'), 'signaling back on both sides', 60_000);
    const during = (await stats(bob)).peer!.videoFramesDecoded;
    expect(during).toBeGreaterThan(before); // media went on while the server was away
    await session(alice, 'await s.setMicrophone(false)');
    await until(() => events(bob, 'peer-media'), (m) => m.some((v) => v['audio'] === false), 'bob sees alice muted');
    for (const page of [alice, bob]) expect(await events(page, 'ended')).toEqual([]);
    await session(alice, 's.hangUp()');
    await closePages();
  });

  it('"they don\'t match" ends the call on both sides with verification-failed', async () => {
    await open();
    await call(alice, bob, { audio: true, video: false });
    await until(() => events(bob, 'keys'), (k) => k.length === 1, 'keys at bob');
    await session(bob, 's.confirmEmoji(false)');
    await until(() => Promise.all([events(alice, 'ended'), events(bob, 'ended')]), ([a, b]) => a.length === 1 && b.length === 1, 'ended on both');
    expect((await events(bob, 'ended'))[0]).toMatchObject({ reason: 'verification-failed', by: 'local' });
    expect((await events(alice, 'ended'))[0]).toMatchObject({ reason: 'verification-failed', by: 'remote' });
    await closePages();
  });

  it('a man-in-the-middle server (--mitm): the emoji differ and both sides reach keys-differ, never media-protected', async () => {
    await open({ mitm: true });
    await call(alice, bob, { audio: true, video: true });
    await until(() => Promise.all([stats(alice), stats(bob)]), ([a, b]) => a.security === 'keys-differ' && b.security === 'keys-differ', 'keys-differ on both', 90_000);
    const [ka, kb] = await Promise.all([events(alice, 'keys'), events(bob, 'keys')]);
    expect(ka[0]!.emoji).not.toEqual(kb[0]!.emoji);
    for (const page of [alice, bob]) {
      expect((await events(page, 'security')).map((v) => v.state)).toEqual(['keys-agreed', 'keys-differ']);
      expect((await stats(page)).evidence.framesOpened).toBe(0);
    }
    await closePages();
  });

  it('an audio call: the camera is turned on mid-call and the peer sees it; then a screen share arrives as a second, encrypted video', async () => {
    await open();
    await call(alice, bob, { audio: true, video: false });
    await until(() => Promise.all([stats(alice), stats(bob)]), ([a, b]) => a.security === 'media-protected' && b.security === 'media-protected', 'media-protected');
    expect((await stats(bob)).peer!.videoFramesDecoded).toBe(0);
    await session(alice, 'await s.setCamera(true)');
    await until(() => events(bob, 'peer-media'), (m) => m.some((v) => v['video'] === true), 'bob is told the camera is on');
    await until(() => stats(bob), (s) => s.peer!.videoFramesDecoded > 10, 'bob decodes alice’s camera');
    // Screen share: a canvas track stands in for getDisplayMedia (headless has no screen picker).
    await session(alice, `
      const canvas = document.createElement('canvas'); canvas.width = 320; canvas.height = 240;
      const ctx = canvas.getContext('2d'); let n = 0;
      setInterval(() => { ctx.fillStyle = n++ % 2 ? '#c33' : '#3c3'; ctx.fillRect(0, 0, 320, 240); }, 50);
      await s.shareScreen(canvas.captureStream(20).getVideoTracks()[0]);`);
    await until(() => events(bob, 'track'), (t) => t.some((v) => v.source === 'screen'), 'bob receives the screen track');
    const before = (await stats(bob)).peer!.videoFramesDecoded;
    await until(() => stats(bob), (s) => s.peer!.videoFramesDecoded > before + 20, 'bob decodes more video (camera + screen)');
    const s = await stats(bob);
    expect(s.transport!.dropped['auth']).toBe(0);
    expect(s.security).toBe('media-protected');
    await session(alice, 'await s.stopScreenShare()');
    await until(() => events(bob, 'peer-media'), (m) => m.at(-1)!['screen'] === false, 'bob is told the share stopped');
    await session(alice, 's.hangUp()');
    await closePages();
  });
});
