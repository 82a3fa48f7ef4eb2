/**
 * Starts Debian's `redis-server` on a free loopback port with a temporary directory, for tests and scripts (the
 * load test, the failover test). Not for production: no persistence, no password, loopback only.
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running local Redis. */
export interface LocalRedis {
  /** redis://127.0.0.1:port */
  readonly url: string;
  readonly port: number;
  /** Stops it (SIGTERM, then waits for the exit) and removes its directory. */
  stop(): Promise<void>;
}

/** Thrown when `redis-server` is missing or does not start. */
export class LocalRedisError extends Error {
  override readonly name = 'LocalRedisError';
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

async function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.once('error', () => resolve(false));
    socket.on('data', (data) => {
      reply += data.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}

/**
 * Starts `redis-server` (from PATH, or `options.binary`) on a free port of 127.0.0.1; resolves once it answers PING.
 * @throws LocalRedisError when it cannot be started or exits early.
 * @example
 * const redis = await startLocalRedis();
 * const server = await startSignalingServer({ port: 0, redis: { url: redis.url, instanceId: 'a' } });
 */
export async function startLocalRedis(options: { binary?: string } = {}): Promise<LocalRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mtcall-redis-'));
  const child = spawn(options.binary ?? 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => void (stderr += d.toString()).slice(-2000));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  let done = false;
  void exited.then(() => void (done = true));
  for (let attempt = 0; !(await answersPing(port)); attempt++) {
    if (done || attempt > 1500) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new LocalRedisError(`redis-server did not start on port ${port}${stderr ? `: ${stderr.trim()}` : ' (is redis-server installed? apt-get install redis-server)'}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (!done) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
