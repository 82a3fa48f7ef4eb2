/**
 * The demo's signaling endpoint serves only the demo's own pages: a WebSocket upgrade carrying another site's
 * Origin (a page elsewhere trying to use a visitor's browser against the server) is refused with 403.
 */

import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDemo } from './harness.js';
import type { RunningDemoServer } from '@mtcall/demo/dist-server/server.js';

let server: RunningDemoServer;
beforeAll(async () => {
  server = await startDemo();
});
afterAll(async () => {
  await server.close();
});

function upgrade(origin: string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(server.url.replace(/^http/, 'ws') + 'signal', origin === undefined ? {} : { origin });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => undefined);
  });
}

it('refuses a forged Origin with 403 and accepts the demo’s own origins', async () => {
  const port = new URL(server.url).port;
  expect(await upgrade('http://evil.example')).toBe(403);
  expect(await upgrade(`http://127.0.0.1:${Number(port) + 1}`)).toBe(403);
  expect(await upgrade(`http://127.0.0.1:${port}`)).toBe(101);
  expect(await upgrade(`http://localhost:${port}`)).toBe(101);
});
