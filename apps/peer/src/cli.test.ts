import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startSignalingServer, type RunningSignalingServer } from '@mtcall/signaling/server';
import { startPeer, type RunningPeer } from './run.js';
import WebSocket from 'ws';
import { SignalingClient } from '@mtcall/signaling';
import { SecretChats, type ChatMessage } from '@mtcall/client';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
let server: RunningSignalingServer | undefined;
const peers: RunningPeer[] = [];

afterEach(async () => {
  for (const peer of peers.splice(0)) await peer.close();
  await server?.close();
});

function run(args: string[]): { done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return { done: new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr }))) };
}

describe('mtcall-peer CLI', () => {
  it('--help prints the usage', async () => {
    const { code, stdout } = await run(['--help']).done;
    expect(code).toBe(0);
    expect(stdout).toMatch(/mtcall-peer <mode>/);
    expect(stdout).toMatch(/--record FILE/);
    expect(stdout).toMatch(/join <room>/);
    expect(stdout).toMatch(/chat <user>/);
    expect(stdout).toMatch(/--relay/);
    expect(stdout).toMatch(/--give-up SEC/);
  });

  it('a bad --give-up is refused with the reason', async () => {
    const { code, stderr } = await run(['answer', '--give-up', '0']).done;
    expect(code).toBe(2);
    expect(stderr).toMatch(/--give-up must be > 0 seconds/);
  });

  it('join: needs a room, and says why a server without rooms refuses it', async () => {
    expect((await run(['join']).done).stderr).toMatch(/join needs a room id/);
    server = await startSignalingServer({ port: 0, log: () => undefined });
    const { code, stderr } = await run(['join', 'standup', '--server', server.url, '--user', 'bot', '--duration', '1']).done;
    expect(code).toBe(2);
    expect(stderr).toMatch(/rooms-disabled/);
  });

  it('`mtcall-peer chat alice --wait --echo --count 2` accepts alice\'s secret chat, shows the same key picture, echoes her messages', async () => {
    server = await startSignalingServer({ port: 0, log: () => undefined });
    const child = run(['chat', 'alice', '--server', server.url, '--user', 'bot', '--wait', '--echo', '--count', '2', '--json']);
    while (server.core.stats.users < 1) await new Promise((r) => setTimeout(r, 50));
    const alice = new SignalingClient({ url: server.url, userId: 'alice', WebSocket: WebSocket as never });
    await alice.connect();
    const chat = new SecretChats(alice).chat('bot');
    const echoes: ChatMessage[] = [];
    chat.on('message', (m) => echoes.push(m));
    chat.on('key', () => {
      chat.send('ping 1');
      chat.send('ping 2');
    });
    const { code, stdout, stderr } = await child.done;
    while (echoes.length < 2) await new Promise((r) => setTimeout(r, 20));
    alice.close();
    expect(code, stderr).toBe(0);
    const events = stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string; text?: string; from?: string; visualization?: string });
    expect(events.find((e) => e.event === 'key')!.visualization).toBe(Buffer.from(chat.key!.visualization).toString('hex'));
    expect(events.filter((e) => e.event === 'message').map((e) => `${e.from}: ${e.text}`)).toEqual(['alice: ping 1', 'alice: ping 2']);
    expect(echoes.map((m) => m.text)).toEqual(['ping 1', 'ping 2']);
  });

  it('chat: needs a user', async () => {
    const { code, stderr } = await run(['chat']).done;
    expect(code).toBe(2);
    expect(stderr).toMatch(/chat needs a user/);
  });

  it('an unknown mode is refused', async () => {
    const { code, stderr } = await run(['dance']).done;
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown mode/);
  });

  it('`mtcall-peer echo --duration 8` answers a call, prints the emoji, echoes the caller\'s tone and reports it as JSON', async () => {
    server = await startSignalingServer({ port: 0, log: () => undefined });
    const child = run(['echo', '--server', server.url, '--user', 'bob', '--duration', '8', '--json']);
    // Wait for bob to be signed in, then call him.
    const deadline = Date.now() + 30_000;
    while (server.core.stats.users < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const alice = await startPeer({ server: server.url, user: 'alice', call: 'bob', send: { type: 'tone', frequency: 880 } });
    peers.push(alice);
    const { code, stdout, stderr } = await child.done;
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(stderr).toContain(`compare the emoji: ${report.emoji.join(' ')}`);
    expect(report.emoji).toEqual(alice.calls[0]!.emoji);
    expect(Math.abs(report.audio.dominantHz - 880)).toBeLessThan(10);
    expect(report.audio.decoded).toBeGreaterThan(50); // 8 s leaves room on a loaded machine (3 s once decoded only 26)
    expect(report.audio.sent).toBe(report.audio.decoded);
    expect(report.dropped).toBe(0);
    expect(alice.report()!.audio.decoded).toBeGreaterThan(50); // the echo came back and opened
  });
});
