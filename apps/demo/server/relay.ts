#!/usr/bin/env node
/**
 * A throwaway TURN relay for development and tests: Debian's coturn (`turnserver`) on 127.0.0.1 with a generated
 * config — loopback only, a random `static-auth-secret` for TURN REST API credentials, no TLS/DTLS, no CLI, no
 * database, loopback peers allowed (both browsers are on this machine). `startRelay()` is used by
 * `mtcall-demo --relay` and the end-to-end tests; run as a command (`npm run relay`) it prints the flags to hand
 * to mtcall-signal / mtcall-demo and stops coturn cleanly on Ctrl-C.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TurnOptions } from '@mtcall/signaling/server';

export const TURNSERVER = process.env['MTCALL_TURNSERVER'] ?? '/usr/bin/turnserver';

/** Whether coturn is installed (scripts/setup.sh --browsers installs it). */
export function haveTurnserver(): boolean {
  return existsSync(TURNSERVER);
}

export interface RelayOptions {
  /** Listening port (UDP and TCP); default: a free one. */
  port?: number;
  /** Shared secret; default: 32 random bytes, hex. */
  secret?: string;
  /** Lifetime of the credentials the signaling server hands out. Default 3600 s. */
  ttlSeconds?: number;
  /** Further addresses to listen on besides 127.0.0.1 (e.g. veth ends facing network namespaces). */
  extraListeningIps?: string[];
  /** Address relayed candidates get (default 127.0.0.1); must be reachable from both peers. */
  relayIp?: string;
  /** Pass coturn's log lines here (default: kept in `log()` only). */
  onLog?: (line: string) => void;
}

export interface RunningRelay {
  /** For `startSignalingServer({ turn })` / `startDemoServer({ turn })`. */
  readonly turn: TurnOptions;
  readonly port: number;
  /** The UDP port range coturn allocates relay addresses from (for captures). */
  readonly relayPorts: { min: number; max: number };
  /** coturn's log so far (it logs refused credentials as 401s). */
  log(): string;
  /** SIGTERM, wait for exit (SIGKILL after 5 s), remove the config directory. */
  stop(): Promise<void>;
}

/** A free UDP port on 127.0.0.1 (bound and released; coturn takes it right after). */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((ok, fail) => {
    socket.once('error', fail);
    socket.bind(0, '127.0.0.1', ok);
  });
  const { port } = socket.address();
  await new Promise<void>((ok) => socket.close(() => ok()));
  return port;
}

/** One STUN Binding request to 127.0.0.1:port; resolves true if a STUN success response comes back within `ms`. */
async function stunPing(port: number, ms: number): Promise<boolean> {
  const socket = createSocket('udp4');
  const request = Buffer.alloc(20);
  request.writeUInt16BE(0x0001, 0); // Binding request, no attributes
  request.writeUInt32BE(0x2112a442, 4); // magic cookie
  randomBytes(12).copy(request, 8);
  return new Promise<boolean>((done) => {
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.close();
      done(ok);
    };
    const timer = setTimeout(() => finish(false), ms);
    socket.on('message', (msg) => finish(msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && msg.subarray(8, 20).equals(request.subarray(8, 20))));
    socket.on('error', () => finish(false));
    socket.send(request, port, '127.0.0.1');
  });
}

/** Starts coturn on loopback; resolves once it answers a STUN Binding request. */
export async function startRelay(options: RelayOptions = {}): Promise<RunningRelay> {
  if (!haveTurnserver()) throw new Error(`${TURNSERVER} is missing: install coturn (bash scripts/setup.sh --browsers does)`);
  const port = options.port ?? (await freeUdpPort());
  const secret = options.secret ?? randomBytes(32).toString('hex');
  // A relay port range of its own, derived from the listening port, so captures can filter on it.
  const min = 40000 + (port % 200) * 100;
  const relayPorts = { min, max: min + 99 };
  const dir = mkdtempSync(join(tmpdir(), 'mtcall-coturn-'));
  const config = [
    'listening-ip=127.0.0.1',
    ...(options.extraListeningIps ?? []).map((ip) => `listening-ip=${ip}`),
    `relay-ip=${options.relayIp ?? '127.0.0.1'}`,
    `listening-port=${port}`,
    `min-port=${relayPorts.min}`,
    `max-port=${relayPorts.max}`,
    'realm=mtcall.local',
    'use-auth-secret',
    `static-auth-secret=${secret}`,
    'fingerprint',
    'no-tls',
    'no-dtls',
    'no-cli',
    'no-multicast-peers',
    'allow-loopback-peers',
    'no-software-attribute',
    'no-rfc5780',
    `userdb=${join(dir, 'turndb')}`,
    `pidfile=${join(dir, 'turnserver.pid')}`,
    'log-file=stdout',
    'simple-log',
    'verbose',
  ].join('\n') + '\n';
  const configPath = join(dir, 'turnserver.conf');
  writeFileSync(configPath, config, { mode: 0o600 });
  const child: ChildProcess = spawn(TURNSERVER, ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  let partial = '';
  const onData = (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      log = (log + line + '\n').slice(-200_000);
      options.onLog?.(line);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Ready when it answers STUN (polled; each probe waits at most 200 ms for the answer).
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`turnserver exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log.slice(-3000)}`);
    }
    if (await stunPing(port, 200)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`turnserver did not answer on 127.0.0.1:${port} within 15 s:\n${log.slice(-3000)}`);
    }
  }
  return {
    turn: { urls: [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`], secret, ttlSeconds: options.ttlSeconds ?? 3600 },
    port,
    relayPorts,
    log: () => log,
    stop,
  };
}

const HELP = `mtcall-relay — a TURN relay (Debian's coturn) on 127.0.0.1 for the demo and tests

Usage: npm run relay [-- --port <n>]     (or: node apps/demo/dist-server/relay.js)

Starts turnserver with a generated config (loopback only, a random static-auth-secret, no TLS, no CLI),
prints the flags to give mtcall-signal, and stops it on Ctrl-C. mtcall-demo --relay does all of this itself.`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(HELP + '\n');
  } else {
    const portIndex = args.indexOf('--port');
    const port = portIndex >= 0 ? Number(args[portIndex + 1]) : undefined;
    if (!haveTurnserver()) {
      const which = spawnSync('sh', ['-c', 'command -v turnserver'], { encoding: 'utf8' });
      process.stderr.write(`mtcall-relay: coturn is not installed${which.stdout ? ` at ${TURNSERVER} (found ${which.stdout.trim()}; set MTCALL_TURNSERVER)` : ''}. Install it: sudo apt-get install coturn (or bash scripts/setup.sh --browsers)\n`);
      process.exit(1);
    }
    try {
      const relay = await startRelay(port !== undefined && Number.isInteger(port) ? { port } : {});
      const urls = relay.turn.urls.join(',');
      process.stderr.write(`coturn relaying on 127.0.0.1:${relay.port} (relay ports ${relay.relayPorts.min}-${relay.relayPorts.max}). Start the signaling server with:\n\n`);
      process.stdout.write(`  --turn-url '${urls}' --turn-secret ${relay.turn.secret}\n`);
      process.stderr.write(`\n  e.g. node packages/signaling/dist/cli.js --turn-url '${urls}' --turn-secret ${relay.turn.secret}\n  (or MTCALL_TURN_SECRET=${relay.turn.secret}). Ctrl-C stops the relay.\n`);
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        process.stderr.write('stopping coturn…\n');
        void relay.stop().then(() => process.exit(0));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    } catch (error) {
      process.stderr.write(`mtcall-relay: ${(error as Error).message}\n`);
      process.exit(1);
    }
  }
}
