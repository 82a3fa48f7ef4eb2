/**
 * Secret chats in the demo (the production build) as people use them: two Chromium pages through the real demo
 * server. Chat both ways with the same key picture on both sides and read receipts; one side offline while the
 * other writes (delivered after it reconnects; the server's queue meanwhile holds ciphertext only); a 150 kB file
 * sent and opened byte-exact; a re-key past 100 messages (the key changes, messages keep flowing).
 */

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { startDemoServer, type RunningDemoServer } from '@mtcall/demo/dist-server/server.js';
import { launchChromium, until } from './harness.js';

let browser: Browser;
let server: RunningDemoServer;
const pages: Page[] = [];

beforeAll(async () => {
  browser = await launchChromium();
  server = await startDemoServer({ port: 0, app: 'production' });
});
afterAll(async () => {
  for (const p of pages) await p.context().close();
  await browser?.close();
  await server?.close();
});

interface ChatState {
  key?: string;
  fingerprint?: string;
  rekeys: number;
  head: string;
  messages: { direction: string; text: string; status: string; failed?: string }[];
}

const chatState = (page: Page) =>
  page.evaluate((): ChatState => {
    const head = document.querySelector<HTMLElement>('.chat-head');
    return {
      ...(head?.dataset['key'] ? { key: head.dataset['key'], fingerprint: head.dataset['fingerprint']! } : {}),
      rekeys: Number(head?.dataset['rekeys'] ?? 0),
      head: head?.textContent ?? '',
      messages: [...document.querySelectorAll<HTMLElement>('.chat-messages li')].map((li) => ({
        direction: li.className, text: li.querySelector('.text')?.textContent ?? '', status: li.dataset['status'] ?? '',
        ...(li.querySelector('.failed') ? { failed: li.querySelector('.failed')!.textContent! } : {}),
      })),
    };
  });

/** The signaling WebSocket of a page, through a switch: off cuts it and refuses reconnects until on again. */
interface Line {
  online: boolean;
  routes: WebSocketRoute[];
}

async function person(name: string, line?: Line, url = server.url): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error:`, error.message));
  if (line) {
    await page.routeWebSocket(/\/signal$/, (ws) => {
      if (!line.online) return void ws.close({ code: 4000, reason: 'offline' });
      ws.connectToServer();
      line.routes.push(ws);
    });
  }
  await page.goto(url);
  await page.fill('#name', name);
  await page.click('#join');
  await page.waitForSelector('header .me');
  pages.push(page);
  return page;
}

async function type(page: Page, ...texts: string[]): Promise<void> {
  await page.evaluate((texts) => {
    const input = document.querySelector<HTMLInputElement>('#chat-input')!;
    for (const text of texts) {
      input.value = text;
      document.querySelector<HTMLFormElement>('.chat-form')!.requestSubmit();
    }
  }, texts);
}

const incoming = (s: ChatState) => s.messages.filter((m) => m.direction === 'in').map((m) => m.text);
const outgoing = (s: ChatState) => s.messages.filter((m) => m.direction === 'out');

describe('secret chats in the demo', () => {
  const line: Line = { online: true, routes: [] };
  let ann: Page;
  let ben: Page;

  it('both ways: the same key picture on both sides, messages delivered and read', async () => {
    ann = await person('ann');
    ben = await person('ben', line);
    await ann.waitForSelector('[data-chat="ben"]');
    const started = Date.now();
    await ann.click('[data-chat="ben"]');
    const [a0, b0] = await until(() => Promise.all([chatState(ann), chatState(ben)]), ([a, b]) => !!a.key && !!b.key, 'both sides have the key');
    console.log(`secret chat established in ${Date.now() - started} ms (click to both pictures)`);
    expect(a0.key).toBe(b0.key);
    expect(a0.key).toHaveLength(72); // 36 bytes: SHA1(initial key)[0..16] ‖ SHA256(key)[0..20]
    expect(a0.head).toMatch(/Not verified until you compare/);
    await type(ann, 'hello ben');
    await until(() => chatState(ben), (b) => incoming(b).includes('hello ben'), 'ben gets the message');
    await type(ben, 'hello ann');
    const a1 = await until(() => chatState(ann), (a) => incoming(a).includes('hello ann') && outgoing(a)[0]?.status === 'read', 'ann gets the reply and sees hers read');
    expect(outgoing(a1).map((m) => m.text)).toEqual(['hello ben']);
  });

  it('ben offline while ann writes: stored as ciphertext, delivered in order once ben is back', async () => {
    line.online = false;
    for (const route of line.routes.splice(0)) await route.close({ code: 4000, reason: 'offline' });
    const texts = Array.from({ length: 5 }, (_, i) => `while you were away ${i}`);
    await type(ann, ...texts);
    await until(() => chatState(ann), (a) => outgoing(a).filter((m) => texts.includes(m.text) && m.status === 'delivered').length === 5, 'the server stored all five');
    const stored = server.signaling.core.chatStore.dump().map((b) => Buffer.from(b));
    expect(stored.length).toBeGreaterThanOrEqual(5);
    for (const text of texts) expect(stored.some((b) => b.includes(Buffer.from(text)))).toBe(false);
    expect(incoming(await chatState(ben)).filter((t) => texts.includes(t))).toEqual([]);
    line.online = true;
    const b = await until(() => chatState(ben), (s) => texts.every((t) => incoming(s).includes(t)), 'ben gets them after reconnecting', 90_000);
    expect(incoming(b).filter((t) => texts.includes(t))).toEqual(texts);
  });

  it('a 150 kB file: sent encrypted, downloaded and opened byte-exact', async () => {
    const file = Buffer.alloc(150 * 1024);
    for (let i = 0; i < file.length; i++) file[i] = (i * 131 + (i >> 10)) & 0xff;
    const started = Date.now();
    await ann.setInputFiles('#chat-file', { name: 'report.bin', mimeType: 'application/octet-stream', buffer: file });
    await ben.waitForSelector('[data-download]');
    await ben.click('[data-download]');
    const link = await ben.waitForSelector('a.file[data-sha256]');
    console.log(`150 kB file: ${Date.now() - started} ms from choosing it to the decrypted download`);
    expect(await link.getAttribute('data-sha256')).toBe(createHash('sha256').update(file).digest('hex'));
    const parts = server.signaling.core.chatStore.dump().map((b) => Buffer.from(b));
    expect(parts.some((b) => b.includes(file.subarray(4096, 4160)))).toBe(false);
  });

  it('re-keys past 100 messages: the key changes on both sides and messages keep flowing', async () => {
    const before = (await chatState(ann)).fingerprint;
    const texts = Array.from({ length: 105 }, (_, i) => `bulk ${i}`);
    const started = Date.now();
    await type(ann, ...texts);
    const [a, b] = await until(() => Promise.all([chatState(ann), chatState(ben)]), ([a, b]) => texts.every((t) => incoming(b).includes(t)) && a.rekeys >= 1 && b.rekeys >= 1 && a.fingerprint === b.fingerprint, 'all delivered and re-keyed', 120_000);
    console.log(`105 messages delivered and re-keyed in ${Date.now() - started} ms`);
    expect(a.fingerprint).not.toBe(before);
    expect(a.key).toBe(b.key); // the picture compares the initial key: it stays the same across re-keys
    await type(ben, 'after the re-key');
    await until(() => chatState(ann), (s) => incoming(s).includes('after the re-key'), 'a message under the new key');
  });
});

describe('a message the server refuses, in the demo', () => {
  it('shows "not sent: queue full" with Retry; the retry delivers it, in order', async () => {
    const small = await startDemoServer({ port: 0, app: 'production', chatLimits: { maxQueuePerDevice: 3 } });
    try {
      const line: Line = { online: true, routes: [] };
      const cam = await person('cam', undefined, small.url);
      const dee = await person('dee', line, small.url);
      await cam.waitForSelector('[data-chat="dee"]');
      await cam.click('[data-chat="dee"]');
      await until(() => Promise.all([chatState(cam), chatState(dee)]), ([c, d]) => !!c.key && !!d.key, 'both sides have the key');
      await until(async () => small.signaling.core.chatStore.dump().length, (n) => n === 0, 'dee acknowledged the request');
      line.online = false;
      for (const route of line.routes.splice(0)) await route.close({ code: 4000, reason: 'offline' });
      const texts = Array.from({ length: 5 }, (_, i) => `queued ${i}`);
      await type(cam, ...texts);
      const c = await until(() => chatState(cam), (s) => outgoing(s).length === texts.length && outgoing(s).every((m) => m.status === 'delivered' || m.status === 'failed'), 'all stored or refused');
      expect(outgoing(c).map((m) => m.status)).toEqual(['delivered', 'delivered', 'delivered', 'failed', 'failed']);
      expect(outgoing(c)[3]!.failed).toMatch(/^not sent: queue full/);
      line.online = true;
      await until(() => chatState(dee), (s) => incoming(s).length === 3, 'dee gets the three stored ones');
      await until(async () => small.signaling.core.chatStore.dump().length, (n) => n === 0, 'dee acknowledged them');
      while ((await cam.$$('.chat-messages .failed button')).length > 0) await cam.click('.chat-messages .failed button');
      const d = await until(() => chatState(dee), (s) => incoming(s).length === 5, 'dee gets the retried ones');
      expect(incoming(d)).toEqual(texts);
      await until(() => chatState(cam), (s) => outgoing(s).every((m) => m.status === 'delivered' || m.status === 'read'), 'cam sees them delivered');
    } finally {
      await small.close();
    }
  });
});
