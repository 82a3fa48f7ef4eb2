/**
 * A small server for the SDK's browser tests: the SDK bundle at /sdk/, the examples at /examples/, a test page at
 * /sdk-test.html that exposes the SDK to playwright (window.sdk), and the real signaling server at /signal.
 */

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSignalingServer, type RunningSignalingServer, type StartSignalingServerOptions } from '@mtcall/signaling/server';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MOUNTS: Record<string, string> = {
  '/sdk/': join(ROOT, 'packages/client/dist/browser'),
  '/examples/': join(ROOT, 'examples'),
};
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json' };

/** The test page: the SDK on `window.sdk`, and an event log per session on `window.log`. */
const TEST_PAGE = `<!doctype html><meta charset="utf-8"><title>sdk test</title>
<script type="module">
  import * as sdk from '/sdk/mtcall-client.js';
  window.sdk = sdk;
  window.log = [];
  window.sessions = [];
  window.follow = (s) => {
    window.sessions.push(s);
    for (const e of ['ringing', 'keys', 'security', 'peer-media', 'connected', 'reconnecting', 'signaling', 'ended', 'error', 'remote-stream', 'track']) {
      s.on(e, (v) => window.log.push({ event: e, value: e === 'remote-stream' ? v.id : e === 'track' ? { kind: v.track.kind, source: v.source } : e === 'error' ? { code: v.code, message: v.message } : v }));
    }
    return s;
  };
  window.ready = true;
</script>`;

export interface SdkServer {
  url: string;
  signaling: RunningSignalingServer;
  /** A rolling restart of the signaling server: graceful shutdown, then a fresh instance on the same port. */
  restartSignaling(): Promise<void>;
  close(): Promise<void>;
}

export async function startSdkServer(signalingOptions: Partial<StartSignalingServerOptions> = {}): Promise<SdkServer> {
  const http = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (path === '/sdk-test.html') {
        res.writeHead(200, { 'content-type': TYPES['.html']! }).end(TEST_PAGE);
        return;
      }
      for (const [prefix, dir] of Object.entries(MOUNTS)) {
        if (!path.startsWith(prefix)) continue;
        const file = resolve(dir, '.' + path.slice(prefix.length - 1));
        if (!file.startsWith(dir + sep)) break;
        try {
          const body = await readFile(file);
          res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
          return;
        } catch {
          break;
        }
      }
      res.writeHead(404).end('not found');
    })();
  });
  await new Promise<void>((ok) => http.listen(0, '127.0.0.1', ok));
  const start = () => startSignalingServer({ server: http, path: '/signal', ...signalingOptions });
  let signaling = await start();
  const port = (http.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    get signaling() {
      return signaling;
    },
    restartSignaling: async () => {
      await signaling.shutdown();
      signaling = await start();
    },
    close: async () => {
      await signaling.close();
      http.closeAllConnections();
      await new Promise<void>((ok) => http.close(() => ok()));
    },
  };
}
