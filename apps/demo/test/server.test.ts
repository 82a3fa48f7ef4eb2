/**
 * The demo's static file server over real HTTP: nothing outside the served build is reachable, whatever the
 * encoding of the path (the server's own code sits next to the build, in dist-server/ — a sibling whose name starts
 * with "dist"). Raw request paths (node:http), so no client normalizes them first.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { startDemoServer, staticPath, type RunningDemoServer } from '../server/server.js';

let server: RunningDemoServer;
beforeAll(async () => {
  server = await startDemoServer({ port: 0 });
});
afterAll(async () => {
  await server?.close();
});

function get(path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('path containment of the static server', () => {
  it('serves the production page', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="app">');
  });

  it.each([
    '/..%2fdist-server%2fserver.js', // the reported case: dist-server starts with "dist"
    '/%2e%2e%2fdist-server%2fserver.js',
    '/%2E%2E%2Fdist-server%2Fserver.js',
    '/..%2f..%2fdemo%2fdist-server%2fserver.js',
    '/%252e%252e%252fdist-server%252fserver.js', // double-encoded: decoded once, it is a file name, not a path
    '/..%5cdist-server%5cserver.js', // backslashes
    '/..\\dist-server\\server.js',
    '/../dist-server/server.js',
    '/..%2fpackage.json',
    '/..%2fdist-test%2ftest.html', // the test build is not reachable from the production server
    '/server.js%00.html', // NUL
    '/%00',
    '/%E0%A4%A', // a malformed escape
  ])('%s: refused, never the file', async (path) => {
    const { status, body } = await get(path);
    expect([400, 403, 404]).toContain(status);
    expect(body).not.toContain('startDemoServer');
    expect(body).not.toContain('"name": "@mtcall/demo"');
    expect(body).not.toContain('TEST BUILD');
  });

  it('staticPath: inside the root, or undefined (outside) / null (undecodable)', () => {
    expect(staticPath('/srv/dist', '/assets/a.js')).toBe('/srv/dist/assets/a.js');
    expect(staticPath('/srv/dist', '/')).toBe('/srv/dist');
    expect(staticPath('/srv/dist', '/..%2fdist-server%2fserver.js')).toBeUndefined();
    expect(staticPath('/srv/dist', '/%2e%2e')).toBeUndefined();
    expect(staticPath('/srv/dist', '/a%00')).toBeNull();
    expect(staticPath('/srv/dist', '/%zz')).toBeNull();
  });
});
