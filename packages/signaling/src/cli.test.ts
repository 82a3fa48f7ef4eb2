import { afterEach, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { SignalingClient } from './client.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
let child: ChildProcess | undefined;

afterEach(() => {
  child?.kill('SIGTERM');
  child = undefined;
});

it('--help documents the flags', () => {
  const result = spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
  expect(result.status).toBe(0);
  for (const flag of ['--host', '--port', '--token', '--ring-timeout', '--confirm-timeout', '--max-message-bytes', '--rate', '--turn-url', '--turn-secret', '--turn-ttl', '--allow-origin', '--auth-secret', '--auth-public-key', '--max-conns-per-ip', '--max-outgoing-calls', '--max-ringing', '--max-watch', '--presence-directory', '--redis', '--instance-id', '--redis-prefix', '--instance-ttl', '--chat-instance', '--no-redis-chats', '--room-joins-per-minute', 'mint-token']) {
    expect(result.stdout).toContain(flag);
  }
});

it('refuses a bad --instance-id before starting', () => {
  const result = spawnSync(process.execPath, [cli, '--redis', 'redis://127.0.0.1:1', '--instance-id', 'a b'], { encoding: 'utf8' });
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(/instance id/);
});

it('refuses --chat-instance without --redis, and a bad chat instance id, before starting', () => {
  const alone = spawnSync(process.execPath, [cli, '--chat-instance', 'a'], { encoding: 'utf8' });
  expect(alone.status).not.toBe(0);
  expect(alone.stderr).toMatch(/--chat-instance needs --redis/);
  const bad = spawnSync(process.execPath, [cli, '--redis', 'redis://127.0.0.1:1', '--instance-id', 'a', '--chat-instance', 'a b'], { encoding: 'utf8' });
  expect(bad.status).not.toBe(0);
  expect(bad.stderr).toMatch(/chat instance id/);
});

it('refuses --no-redis-chats without --redis, and with --chat-instance, before starting', () => {
  const alone = spawnSync(process.execPath, [cli, '--no-redis-chats'], { encoding: 'utf8' });
  expect(alone.status).toBe(2);
  expect(alone.stderr).toMatch(/--no-redis-chats needs --redis/);
  const both = spawnSync(process.execPath, [cli, '--redis', 'redis://127.0.0.1:1', '--chat-instance', 'a', '--no-redis-chats'], { encoding: 'utf8' });
  expect(both.status).toBe(2);
  expect(both.stderr).toMatch(/either --chat-instance or --no-redis-chats/);
});

it('refuses a bad --room-joins-per-minute, and one without --redis, before starting', () => {
  for (const bad of ['0', '-3', '2.5', 'many', '']) {
    const result = spawnSync(process.execPath, [cli, '--redis', 'redis://127.0.0.1:1', `--room-joins-per-minute=${bad}`], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--room-joins-per-minute must be a whole number of at least 1/);
  }
  const alone = spawnSync(process.execPath, [cli, '--room-joins-per-minute', '10'], { encoding: 'utf8' });
  expect(alone.status).toBe(2);
  expect(alone.stderr).toMatch(/--room-joins-per-minute needs --redis/);
});

it('rejects unknown flags with a hint', () => {
  const result = spawnSync(process.execPath, [cli, '--bogus'], { encoding: 'utf8' });
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(/Try --help/);
});

it('serves calls on the port it prints, and logs without secrets', async () => {
  child = spawn(process.execPath, [cli, '--port', '0', '--token', 't'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child!.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (ws:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child!.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
  });
  expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/signal$/);
  const alice = new SignalingClient({ url, userId: 'alice', token: 't', WebSocket: WebSocket as never });
  const bob = new SignalingClient({ url, userId: 'bob', token: 't', WebSocket: WebSocket as never });
  await Promise.all([alice.connect(), bob.connect()]);
  const ring = bob.next('incoming', 10_000);
  const call = alice.call('bob');
  const incoming = await ring;
  const both = Promise.all([call.next('established', 10_000), incoming.next('established', 10_000)]);
  incoming.accept();
  const [a, b] = await both;
  expect(a.emoji).toEqual(b.emoji);
  const keyHex = Buffer.from(a.key).toString('hex');
  call.hangUp();
  await incoming.next('ended', 10_000);
  alice.close();
  bob.close();
  await expect.poll(() => stderr, { timeout: 10_000 }).toMatch(/disconnected user=bob/);
  expect(stderr).toMatch(/call-confirmed/);
  expect(stderr).toMatch(/call-ended call=\w+ hangup/);
  for (const secretish of [keyHex.slice(0, 16), Buffer.from(a.key.length ? keyHex : '', 'hex').toString('base64').slice(0, 12)]) {
    expect(stderr).not.toContain(secretish);
  }
});
