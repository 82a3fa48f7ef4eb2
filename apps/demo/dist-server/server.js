#!/usr/bin/env node
/**
 * mtcall-demo: serves the built web app and the signaling server on one port (default http://127.0.0.1:8080).
 * `startDemoServer()` is the same thing as a function, for the end-to-end tests.
 */
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { consoleLog, startSignalingServer } from '@mtcall/signaling/server';
const STATIC_ROOT = resolve(fileURLToPath(new URL('../dist', import.meta.url)));
const TYPES = {
    '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
    '.map': 'application/json', '.json': 'application/json', '.svg': 'image/svg+xml', '.wasm': 'application/wasm',
};
export async function startDemoServer(options = {}) {
    const reports = new Map();
    const http = createServer((req, res) => void handle(req, res, options, reports));
    await new Promise((ok, fail) => {
        http.once('error', fail);
        http.listen(options.port ?? 8080, options.host ?? '127.0.0.1', ok);
    });
    const signaling = await startSignalingServer({ server: http, path: '/signal', ...(options.mitm ? { mitm: true } : {}), ...(options.log ? { log: consoleLog } : {}) });
    const address = http.address();
    const host = options.host ?? '127.0.0.1';
    return {
        url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}/`,
        signaling,
        reports,
        close: async () => {
            await signaling.close();
            http.closeAllConnections();
            await new Promise((ok) => http.close(() => ok()));
        },
    };
}
async function handle(req, res, options, reports) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/config.json')
        return send(res, 200, 'application/json', JSON.stringify({ mitm: !!options.mitm }));
    if (url.pathname === '/report' && req.method === 'POST' && options.collectReports) {
        let body = '';
        for await (const chunk of req)
            body += chunk;
        try {
            const report = JSON.parse(body);
            reports.set(report.me ?? 'unknown', report);
        }
        catch {
            return send(res, 400, 'text/plain', 'bad json');
        }
        return send(res, 204, 'text/plain', '');
    }
    const path = normalize(join(STATIC_ROOT, decodeURIComponent(url.pathname)));
    if (!path.startsWith(STATIC_ROOT))
        return send(res, 403, 'text/plain', 'forbidden');
    try {
        const file = (await stat(path)).isDirectory() ? join(path, 'index.html') : path;
        const body = await readFile(file);
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
        res.end(body);
    }
    catch {
        send(res, 404, 'text/plain', 'not found (did you build the demo? npm run build)');
    }
}
function send(res, status, type, body) {
    res.writeHead(status, { 'content-type': type });
    res.end(body);
}
const HELP = `mtcall-demo — the mtcall web demo and its signaling server on one port

Usage: mtcall-demo [--port 8080] [--host 127.0.0.1] [--mitm] [--quiet]

  --port <n>    HTTP port (default 8080; 0 picks a free one)
  --host <a>    interface (default 127.0.0.1; browsers need 127.0.0.1/localhost or HTTPS for camera access)
  --mitm        DEMONSTRATION ONLY: the server becomes a man in the middle; the two sides see different emoji
  --quiet       no signaling log
  -h, --help    this text

Open the printed URL in two browsers (or two windows), sign in with two names, call.`;
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    try {
        const { values } = parseArgs({
            options: {
                port: { type: 'string', default: '8080' },
                host: { type: 'string', default: '127.0.0.1' },
                mitm: { type: 'boolean', default: false },
                quiet: { type: 'boolean', default: false },
                help: { type: 'boolean', short: 'h', default: false },
            },
        });
        if (values.help) {
            process.stdout.write(HELP + '\n');
        }
        else {
            const server = await startDemoServer({ port: Number(values.port), host: values.host, mitm: values.mitm, log: !values.quiet });
            process.stderr.write(`mtcall demo running at ${server.url}  (open it in two browsers)\n`);
            if (values.mitm)
                process.stderr.write('!!! --mitm: the server is a MAN IN THE MIDDLE (demonstration). The emoji will NOT match. !!!\n');
            const stop = () => void server.close().then(() => process.exit(0));
            process.on('SIGINT', stop);
            process.on('SIGTERM', stop);
        }
    }
    catch (error) {
        process.stderr.write(`mtcall-demo: ${error.message}\nTry --help.\n`);
        process.exit(2);
    }
}
//# sourceMappingURL=server.js.map