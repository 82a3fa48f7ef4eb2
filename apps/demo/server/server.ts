/**
 * mtcall-demo: serves the built web app and the signaling server on one port (default http://127.0.0.1:8080).
 * `startDemoServer()` is the same thing as a function, for the end-to-end tests.
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { consoleLog, startSignalingServer, type RunningSignalingServer, type StartSignalingServerOptions, type TurnOptions } from '@mtcall/signaling/server';

/** The production build (index.html) and the test build (test.html, driven by URL parameters: TEST ONLY). */
const BUILDS = {
  production: { root: resolve(fileURLToPath(new URL('../dist', import.meta.url))), index: 'index.html' },
  test: { root: resolve(fileURLToPath(new URL('../dist-test', import.meta.url))), index: 'test.html' },
} as const;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.svg': 'image/svg+xml', '.wasm': 'application/wasm',
};

export interface DemoServerOptions {
  port?: number;
  host?: string;
  /** DEMONSTRATION: the signaling server acts as a man in the middle. */
  mitm?: boolean;
  /** Rooms (group calls): start the SFU (mediasoup workers, @mtcall/sfu) in this process. */
  rooms?: boolean | { workers?: number };
  /** TEST HOOK: serve the test build (dist-test: the page runs calls from URL parameters) instead of the production one. */
  app?: keyof typeof BUILDS;
  /** TEST HOOK: accept POST /report from test pages run with ?report=/report. */
  collectReports?: boolean;
  log?: boolean;
  /** A TURN relay: every signed-in device gets short-lived credentials for it in its welcome. */
  turn?: TurnOptions;
  /** Further origins whose pages may use the signaling endpoint (the demo's own are always allowed). */
  allowOrigin?: string[];
  /** TEST HOOK: hand out these ICE servers instead (e.g. expired or forged TURN credentials). */
  iceServers?: StartSignalingServerOptions['iceServers'];
  /** Secret chats' caps (e.g. a small queue, to see a refused message in the demo). */
  chatLimits?: StartSignalingServerOptions['chatLimits'];
  /** A cluster of demo servers sharing presence and rooms through Redis (docs/DEPLOYMENT.md). */
  redis?: StartSignalingServerOptions['redis'];
}

/** How many online users the demo's "everyone" list shows at most. */
export const DEMO_DIRECTORY_USERS = 200;

/** The origins the demo's pages are served from: its host (every interface for 0.0.0.0/::), localhost and 127.0.0.1. */
export function demoOrigins(host: string, port: number): string[] {
  const hosts = host === '0.0.0.0' || host === '::'
    ? Object.values(networkInterfaces()).flatMap((list) => list ?? []).map((i) => (i.family === 'IPv6' ? `[${i.address.split('%')[0]}]` : i.address))
    : [host.includes(':') ? `[${host}]` : host];
  return [...new Set([...hosts, 'localhost', '127.0.0.1'])].map((h) => `http://${h}:${port}`);
}

/** Other directories the demo serves: the examples and the SDK bundle they import. */
const MOUNTS: Record<string, string> = {
  '/examples/': resolve(fileURLToPath(new URL('../../../examples', import.meta.url))),
  '/sdk/': resolve(dirname(createRequire(import.meta.url).resolve('@mtcall/client/package.json')), 'dist/browser'),
};

export interface RunningDemoServer {
  url: string;
  signaling: RunningSignalingServer;
  /** Last report per reporting page (keyed by its `me`). */
  reports: Map<string, unknown>;
  close(): Promise<void>;
}

export async function startDemoServer(options: DemoServerOptions = {}): Promise<RunningDemoServer> {
  const reports = new Map<string, unknown>();
  const http = createServer((req, res) => {
    handle(req, res, options, reports).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain', 'error');
      else res.destroy();
    });
  });
  await new Promise<void>((ok, fail) => {
    http.once('error', fail);
    http.listen(options.port ?? 8080, options.host ?? '127.0.0.1', ok);
  });
  const port = (http.address() as { port: number }).port;
  // The SFU only when rooms are on: the 1:1 demo loads no mediasoup.
  const sfu = options.rooms
    ? await (await import('@mtcall/sfu')).Sfu.start({ ...(typeof options.rooms === 'object' && options.rooms.workers ? { workers: options.rooms.workers } : {}) })
    : undefined;
  const signaling = await startSignalingServer({
    ...(sfu ? { rooms: { media: sfu } } : {}),
    server: http, path: '/signal', ...(options.mitm ? { mitm: true } : {}), ...(options.log ? { log: consoleLog } : {}),
    // Only the demo's own pages may connect (a page on another site gets 403), and they see everyone online.
    allowOrigin: [...demoOrigins(options.host ?? '127.0.0.1', port), ...(options.allowOrigin ?? [])],
    presence: { maxWatch: 500, directory: { maxUsers: DEMO_DIRECTORY_USERS } },
    ...(options.turn ? { turn: options.turn } : {}), ...(options.iceServers ? { iceServers: options.iceServers } : {}),
    ...(options.redis ? { redis: options.redis } : {}),
    ...(options.chatLimits ? { chatLimits: options.chatLimits } : {}),
  });
  const address = http.address() as { port: number };
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}/`,
    signaling,
    reports,
    close: async () => {
      await signaling.close();
      http.closeAllConnections();
      await new Promise<void>((ok) => http.close(() => ok()));
      sfu?.close();
    },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: DemoServerOptions, reports: Map<string, unknown>): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/config.json') return send(res, 200, 'application/json', JSON.stringify({ mitm: !!options.mitm, relay: !!(options.turn ?? options.iceServers), rooms: !!options.rooms }));
  if (url.pathname === '/report' && req.method === 'POST' && options.collectReports) {
    let body = '';
    for await (const chunk of req) body += chunk;
    try {
      const report = JSON.parse(body) as { me?: string };
      reports.set(report.me ?? 'unknown', report);
    } catch {
      return send(res, 400, 'text/plain', 'bad json');
    }
    return send(res, 204, 'text/plain', '');
  }
  // The SDK's plain-HTML example and the one-file SDK bundle it imports (README: "Add encrypted calls to your app").
  const mount = Object.entries(MOUNTS).find(([prefix]) => url.pathname.startsWith(prefix));
  const build = mount ? { root: mount[1], index: 'call.html' } : BUILDS[options.app ?? 'production'];
  const path = staticPath(build.root, mount ? url.pathname.slice(mount[0].length - 1) : url.pathname);
  if (path === null) return send(res, 400, 'text/plain', 'bad path');
  if (path === undefined) return send(res, 403, 'text/plain', 'forbidden');
  try {
    const file = (await stat(path)).isDirectory() ? join(path, build.index) : path;
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    res.end(body);
  } catch {
    send(res, 404, 'text/plain', 'not found (did you build the demo? npm run build)');
  }
}

/**
 * The file a URL path names inside `root`: `null` when the path does not decode (bad %-escapes) or holds a NUL,
 * `undefined` when it leaves `root` (`..` segments, encoded or not). Containment is checked with the separator:
 * a sibling such as `dist-server` next to `dist` is outside. The path is decoded once (`%252e` stays `%2e`).
 */
export function staticPath(root: string, pathname: string): string | null | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const path = resolve(root, '.' + (decoded.startsWith('/') ? decoded : `/${decoded}`));
  return path === root || path.startsWith(root + sep) ? path : undefined;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type });
  res.end(body);
}
