#!/usr/bin/env node
/** mtcall-signal: the signaling server as a command. */

import { parseArgs } from 'node:util';
import { consoleLog, startSignalingServer } from './server.js';
import { DEFAULT_SERVER_LIMITS } from './server-core.js';
import { parseTurnOptions } from './turn.js';

const HELP = `mtcall-signal — the mtcall signaling server (WebSocket, in-memory, trusted with nothing)

Usage: mtcall-signal [options]

  --host <addr>             interface to bind (default 127.0.0.1; use 0.0.0.0 to expose it)
  --port <n>                TCP port (default 8443; 0 picks a free one)
  --path <p>                WebSocket path (default /signal)
  --token <t>               require this shared token in every client's hello (also MTCALL_TOKEN)
  --ring-timeout <s>        seconds a call may ring unanswered (default ${DEFAULT_SERVER_LIMITS.ringTimeoutMs / 1000})
  --confirm-timeout <s>     seconds between accept and the caller's confirm (default ${DEFAULT_SERVER_LIMITS.confirmTimeoutMs / 1000})
  --max-message-bytes <n>   largest frame answered normally (default ${DEFAULT_SERVER_LIMITS.maxMessageBytes})
  --rate <n>                messages per second per connection (default ${DEFAULT_SERVER_LIMITS.rateLimit.perSecond})
  --turn-url <url>          a TURN relay handed to every device (repeatable or comma-separated),
                            e.g. turn:127.0.0.1:3478?transport=udp — needs --turn-secret
  --turn-secret <s>         the relay's coturn static-auth-secret (also MTCALL_TURN_SECRET); devices get
                            short-lived TURN REST API credentials in their welcome
  --turn-ttl <s>            how long those credentials stay valid (default 3600)
  --mitm                    DEMONSTRATION ONLY: act as a man in the middle (own DH with each side) so the
                            two sides see different emoji. Never use for real calls.
  --quiet                   no log lines
  -h, --help                this text

The server relays the three key-agreement messages (it sees SHA256(g_a), g_b, g_a — never a, b or the key)
and sealed in-call signaling it cannot read. See the README for the protocol.`;

function main(): void {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8443' },
      path: { type: 'string', default: '/signal' },
      token: { type: 'string' },
      'ring-timeout': { type: 'string' },
      'confirm-timeout': { type: 'string' },
      'max-message-bytes': { type: 'string' },
      rate: { type: 'string' },
      'turn-url': { type: 'string', multiple: true },
      'turn-secret': { type: 'string' },
      'turn-ttl': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      mitm: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return;
  }
  const number = (name: string, text: string | undefined, fallback: number): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${text}`);
    return n;
  };
  const token = values.token ?? process.env['MTCALL_TOKEN'];
  const rate = number('rate', values.rate, DEFAULT_SERVER_LIMITS.rateLimit.perSecond);
  const turn = parseTurnOptions(values['turn-url'], values['turn-secret'] ?? process.env['MTCALL_TURN_SECRET'], values['turn-ttl']);
  void startSignalingServer({
    host: values.host,
    port: number('port', values.port, 8443),
    path: values.path,
    ringTimeoutMs: number('ring-timeout', values['ring-timeout'], DEFAULT_SERVER_LIMITS.ringTimeoutMs / 1000) * 1000,
    confirmTimeoutMs: number('confirm-timeout', values['confirm-timeout'], DEFAULT_SERVER_LIMITS.confirmTimeoutMs / 1000) * 1000,
    maxMessageBytes: number('max-message-bytes', values['max-message-bytes'], DEFAULT_SERVER_LIMITS.maxMessageBytes),
    rateLimit: { perSecond: rate, burst: Math.max(rate * 4, 20), maxViolations: DEFAULT_SERVER_LIMITS.rateLimit.maxViolations },
    ...(token !== undefined ? { token } : {}),
    ...(values.quiet ? {} : { log: consoleLog }),
    ...(values.mitm ? { mitm: true } : {}),
    ...(turn ? { turn } : {}),
  }).then(
    (server) => {
      process.stderr.write(`mtcall-signal listening on ${server.url}${token !== undefined ? ' (token required)' : ''}\n`);
      process.stderr.write(turn ? `TURN relay: ${turn.urls.join(', ')} (credentials valid ${turn.ttlSeconds} s)\n` : 'no TURN relay: calls are direct only\n');
      if (values.mitm) process.stderr.write('!!! --mitm: this server is a MAN IN THE MIDDLE (demonstration). Emoji will NOT match. !!!\n');
      const stop = () => void server.close().then(() => process.exit(0));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    (error: Error) => {
      process.stderr.write(`mtcall-signal: ${error.message}\n`);
      process.exit(1);
    },
  );
}

try {
  main();
} catch (error) {
  process.stderr.write(`mtcall-signal: ${(error as Error).message}\nTry --help.\n`);
  process.exit(2);
}
