#!/usr/bin/env node
/** mtcall-signal: the signaling server as a command, and `mtcall-signal mint-token` for trying signed tokens. */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { mintToken, type TokenVerifierOptions } from './auth.js';
import { consoleLog, RedisChatStore, startSignalingServer, type RoomsConfig } from './server.js';
import { DEFAULT_ABUSE_LIMITS, DEFAULT_ROOM_OPTIONS, DEFAULT_SERVER_LIMITS } from './server-core.js';
import { DEFAULT_PRESENCE_OPTIONS } from './presence.js';
import { parseTurnOptions } from './turn.js';
import { checkClusterOptions, DEFAULT_ROOM_JOINS_PER_MINUTE } from './cluster-node.js';

const HELP = `mtcall-signal — the mtcall signaling server (WebSocket, in-memory or clustered on Redis, trusted with nothing)

Usage: mtcall-signal [options]
       mtcall-signal mint-token --user <id> [--secret <s> | --private-key <pem file>] [--ttl <s>]

Network
  --host <addr>             interface to bind (default 127.0.0.1; use 0.0.0.0 to expose it)
  --port <n>                TCP port (default 8443; 0 picks a free one)
  --path <p>                WebSocket path (default /signal)
  --allow-origin <origin>   web pages of this origin may connect, e.g. https://app.example.com (repeatable or
                            comma-separated); upgrades from any other Origin get HTTP 403. Without it any
                            page on any site may connect.

Authentication (default: user ids are taken as claimed)
  --auth-secret <s>         production mode: hello must carry a JWT signed with this HS256 secret (≥ 32 bytes;
                            also MTCALL_AUTH_SECRET) whose sub is the user id; that id is the only one the
                            connection may use
  --auth-public-key <file>  the same with EdDSA (Ed25519) tokens: the PEM public key of the app server's key
  --auth-issuer <iss>       tokens must carry this iss     --auth-audience <aud>   …and this aud
  --token <t>               simple mode: a shared token every hello must carry (also MTCALL_TOKEN); anyone
                            holding it may claim any user id

Limits
  --ring-timeout <s>        seconds a call may ring unanswered (default ${DEFAULT_SERVER_LIMITS.ringTimeoutMs / 1000})
  --confirm-timeout <s>     seconds between accept and the caller's confirm (default ${DEFAULT_SERVER_LIMITS.confirmTimeoutMs / 1000})
  --max-message-bytes <n>   largest frame answered normally (default ${DEFAULT_SERVER_LIMITS.maxMessageBytes})
  --rate <n>                messages per second per connection (default ${DEFAULT_SERVER_LIMITS.rateLimit.perSecond})
  --max-conns-per-ip <n>    open connections per remote address (default ${DEFAULT_ABUSE_LIMITS.maxConnectionsPerAddress}; 0 = no cap)
  --max-outgoing-calls <n>  calls one device may have in progress as caller (default ${DEFAULT_ABUSE_LIMITS.maxOutgoingCallsPerDevice})
  --max-ringing <n>         calls that may ring one user at once; more get busy (default ${DEFAULT_ABUSE_LIMITS.maxRingingPerCallee})

Presence
  --max-watch <n>           users one connection may follow (default ${DEFAULT_PRESENCE_OPTIONS.maxWatch})
  --presence-directory <n>  offer an "everyone online" directory listing at most n users (default: none)

Relay
  --turn-url <url>          a TURN relay handed to every authenticated device (repeatable or comma-separated),
                            e.g. turn:127.0.0.1:3478?transport=udp — needs --turn-secret
  --turn-secret <s>         the relay's coturn static-auth-secret (also MTCALL_TURN_SECRET); devices get
                            short-lived TURN REST API credentials in their welcome
  --turn-ttl <s>            how long those credentials stay valid (default 3600)

Rooms (group calls through an embedded mediasoup SFU; the 1:1 path needs none of this)
  --rooms                   serve rooms: start mediasoup workers in this process (built by scripts/setup.sh)
  --sfu-workers <n>         mediasoup workers, one per core by default; rooms spread over them
  --room-size <n>           members per room (default ${DEFAULT_ROOM_OPTIONS.maxMembers})
  --max-rooms <n>           rooms per server (default ${DEFAULT_ROOM_OPTIONS.maxRooms})
  --sfu-ip <addr>           address the SFU's WebRTC transports listen on (default: --host, or 127.0.0.1)
  --sfu-announced-ip <addr> address announced in ICE candidates (behind NAT)
  --sfu-ports <lo-hi>       UDP/TCP port range of the SFU (default 40000-49999)

Cluster (several instances sharing presence, device routing and calls through Redis)
  --redis <url>             join the cluster whose state is in this Redis, e.g. redis://127.0.0.1:6379; a caller on
                            any instance reaches the callee's devices on every other (default: in-memory, alone)
                            Secret chats, their queues and files are then kept in Redis by ONE instance, elected:
                            the first to take the lease key <prefix>chat:writer; the others forward chat messages
                            to it; when it dies, another takes over within --instance-ttl, loading them from Redis
                            (meanwhile chat messages get the error chats-unavailable)
                            With --rooms: a room lives on the instance that claimed it in Redis (its SFU serves
                            every member, wherever connected); when that instance dies, members are told room-lost
                            and join again on another
  --instance-id <id>        this instance's name in the cluster (A-Z a-z 0-9 . _ -; default: random)
  --redis-prefix <p>        prefix of the cluster's Redis keys and channels (default mtcall:)
  --instance-ttl <s>        how long this instance's devices outlive its last heartbeat when it dies (default 10)
  --chat-instance <id>      pin the instance that keeps secret chats in Redis instead of electing it (give every
                            instance the same id)
  --no-redis-chats          keep each instance's devices' secret chats in its memory instead (lost when it stops;
                            chats work only between devices on the same instance)
  --room-joins-per-minute <n> room joins one device may make per minute on this instance (default
                            ${DEFAULT_ROOM_JOINS_PER_MINUTE}); the next ones get room-join-limit

Other
  --mitm                    DEMONSTRATION ONLY: act as a man in the middle (own DH with each side of every call
                            and room key exchange) so the sides see different emoji (and different room codes).
                            Never use for real calls.
  --quiet                   no log lines
  -h, --help                this text

The server relays the three key-agreement messages (it sees SHA256(g_a), g_b, g_a — never a, b or the key)
and sealed in-call signaling it cannot read. See the README for the protocol.`;

const MINT_HELP = `mtcall-signal mint-token — print a signed token (JWT) for one user, as an app server would mint it

Usage: mtcall-signal mint-token --user <id> [--secret <s> | --private-key <pem file>] [options]

  --user <id>               the user id (the token's sub)
  --secret <s>              HS256 secret shared with the server's --auth-secret (also MTCALL_AUTH_SECRET)
  --private-key <file>      Ed25519 private key (PKCS#8 PEM) for EdDSA; the server gets the public key
                            (openssl genpkey -algorithm ed25519 -out key.pem; openssl pkey -in key.pem -pubout)
  --ttl <s>                 lifetime in seconds (default 3600)
  --issuer <iss>            iss claim    --audience <aud>   aud claim
  -h, --help                this text`;

/** A non-negative number flag. */
function number(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${text}`);
  return n;
}

async function mint(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      user: { type: 'string' },
      secret: { type: 'string' },
      'private-key': { type: 'string' },
      ttl: { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(MINT_HELP + '\n');
    return;
  }
  if (!values.user) throw new Error('mint-token needs --user');
  const secret = values.secret ?? (values['private-key'] ? undefined : process.env['MTCALL_AUTH_SECRET']);
  const token = await mintToken({
    userId: values.user,
    ttlSeconds: number('ttl', values.ttl, 3600),
    ...(secret !== undefined ? { secret } : {}),
    ...(values['private-key'] ? { privateKey: readFileSync(values['private-key'], 'utf8') } : {}),
    ...(values.issuer ? { issuer: values.issuer } : {}),
    ...(values.audience ? { audience: values.audience } : {}),
  });
  process.stdout.write(token + '\n');
}

/** The embedded SFU for --rooms (loaded only then: the 1:1 server needs no mediasoup). */
async function startRooms(values: Record<string, string | boolean | string[] | undefined>): Promise<{ config: RoomsConfig; close: () => void } | undefined> {
  if (!values['rooms']) return undefined;
  const { Sfu } = await import('@mtcall/sfu');
  const ports = typeof values['sfu-ports'] === 'string' ? /^(\d+)-(\d+)$/.exec(values['sfu-ports']) : null;
  if (values['sfu-ports'] !== undefined && !ports) throw new Error('--sfu-ports must be lo-hi, e.g. 40000-49999');
  const host = typeof values['host'] === 'string' && values['host'] !== '0.0.0.0' && values['host'] !== '::' ? values['host'] : '127.0.0.1';
  const sfu = await Sfu.start({
    ...(values['sfu-workers'] !== undefined ? { workers: number('sfu-workers', values['sfu-workers'] as string, 1) } : {}),
    listenIp: typeof values['sfu-ip'] === 'string' ? values['sfu-ip'] : host,
    ...(typeof values['sfu-announced-ip'] === 'string' ? { announcedIp: values['sfu-announced-ip'] } : {}),
    ...(ports ? { rtcMinPort: Number(ports[1]), rtcMaxPort: Number(ports[2]) } : {}),
    onWorkerDied: (index, error) => process.stderr.write(`mtcall-signal: mediasoup worker ${index} died (${error.message}); its rooms ended\n`),
  });
  return {
    config: {
      media: sfu,
      maxMembers: number('room-size', values['room-size'] as string | undefined, DEFAULT_ROOM_OPTIONS.maxMembers),
      maxRooms: number('max-rooms', values['max-rooms'] as string | undefined, DEFAULT_ROOM_OPTIONS.maxRooms),
    },
    close: () => sfu.close(),
  };
}

function serve(args: string[]): void {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8443' },
      path: { type: 'string', default: '/signal' },
      'allow-origin': { type: 'string', multiple: true },
      token: { type: 'string' },
      'auth-secret': { type: 'string' },
      'auth-public-key': { type: 'string' },
      'auth-issuer': { type: 'string' },
      'auth-audience': { type: 'string' },
      'ring-timeout': { type: 'string' },
      'confirm-timeout': { type: 'string' },
      'max-message-bytes': { type: 'string' },
      rate: { type: 'string' },
      'max-conns-per-ip': { type: 'string' },
      'max-outgoing-calls': { type: 'string' },
      'max-ringing': { type: 'string' },
      'max-watch': { type: 'string' },
      'presence-directory': { type: 'string' },
      'turn-url': { type: 'string', multiple: true },
      'turn-secret': { type: 'string' },
      'turn-ttl': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      mitm: { type: 'boolean', default: false },
      rooms: { type: 'boolean', default: false },
      'sfu-workers': { type: 'string' },
      'room-size': { type: 'string' },
      'max-rooms': { type: 'string' },
      'sfu-ip': { type: 'string' },
      'sfu-announced-ip': { type: 'string' },
      'sfu-ports': { type: 'string' },
      redis: { type: 'string' },
      'instance-id': { type: 'string' },
      'redis-prefix': { type: 'string' },
      'instance-ttl': { type: 'string' },
      'chat-instance': { type: 'string' },
      'no-redis-chats': { type: 'boolean', default: false },
      'room-joins-per-minute': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return;
  }
  const token = values.token ?? process.env['MTCALL_TOKEN'];
  const authSecret = values['auth-secret'] ?? process.env['MTCALL_AUTH_SECRET'];
  if (authSecret !== undefined && values['auth-public-key']) throw new Error('give either --auth-secret or --auth-public-key, not both');
  let auth: TokenVerifierOptions | undefined;
  if (authSecret !== undefined || values['auth-public-key']) {
    auth = authSecret !== undefined ? { secret: authSecret } : { publicKey: readFileSync(values['auth-public-key']!, 'utf8') };
    if (values['auth-issuer']) auth.issuer = values['auth-issuer'];
    if (values['auth-audience']) auth.audience = values['auth-audience'];
  }
  const allowOrigin = values['allow-origin']?.flatMap((o) => o.split(',')).map((o) => o.trim()).filter(Boolean);
  const rate = number('rate', values.rate, DEFAULT_SERVER_LIMITS.rateLimit.perSecond);
  const turn = parseTurnOptions(values['turn-url'], values['turn-secret'] ?? process.env['MTCALL_TURN_SECRET'], values['turn-ttl']);
  const directory = values['presence-directory'] === undefined ? undefined : { maxUsers: number('presence-directory', values['presence-directory'], 0) };
  const joinsText = values['room-joins-per-minute'];
  if (joinsText !== undefined && !/^[1-9][0-9]{0,8}$/.test(joinsText)) throw new Error(`--room-joins-per-minute must be a whole number of at least 1, got ${joinsText}`);
  const joins = joinsText === undefined ? undefined : Number(joinsText);
  const redis = values.redis === undefined ? undefined : {
    url: values.redis,
    ...(values['instance-id'] !== undefined ? { instanceId: values['instance-id'] } : {}),
    ...(values['redis-prefix'] !== undefined ? { prefix: values['redis-prefix'] } : {}),
    ...(values['chat-instance'] !== undefined ? { chatInstance: values['chat-instance'] } : {}),
    electChats: !values['no-redis-chats'],
    instanceTtlMs: Math.round(number('instance-ttl', values['instance-ttl'], 10) * 1000),
    ...(joins !== undefined ? { roomJoinsPerMinute: joins } : {}),
  };
  if (values['chat-instance'] !== undefined && !redis) throw new Error('--chat-instance needs --redis');
  if (joins !== undefined && !redis) throw new Error('--room-joins-per-minute needs --redis');
  if (values['no-redis-chats'] && !redis) throw new Error('--no-redis-chats needs --redis');
  if (values['no-redis-chats'] && values['chat-instance'] !== undefined) throw new Error('give either --chat-instance or --no-redis-chats, not both');
  if (redis) checkClusterOptions({ instanceId: redis.instanceId ?? 'x', instanceTtlMs: redis.instanceTtlMs, ...(redis.chatInstance !== undefined ? { chatInstance: redis.chatInstance } : {}), ...(joins !== undefined ? { roomJoinsPerMinute: joins } : {}) });
  const rooms = startRooms(values);
  void rooms.then((rooms) => startSignalingServer({
    host: values.host,
    port: number('port', values.port, 8443),
    path: values.path,
    ringTimeoutMs: number('ring-timeout', values['ring-timeout'], DEFAULT_SERVER_LIMITS.ringTimeoutMs / 1000) * 1000,
    confirmTimeoutMs: number('confirm-timeout', values['confirm-timeout'], DEFAULT_SERVER_LIMITS.confirmTimeoutMs / 1000) * 1000,
    maxMessageBytes: number('max-message-bytes', values['max-message-bytes'], DEFAULT_SERVER_LIMITS.maxMessageBytes),
    rateLimit: { perSecond: rate, burst: Math.max(rate * 4, 20), maxViolations: DEFAULT_SERVER_LIMITS.rateLimit.maxViolations },
    limits: {
      maxConnectionsPerAddress: number('max-conns-per-ip', values['max-conns-per-ip'], DEFAULT_ABUSE_LIMITS.maxConnectionsPerAddress),
      maxOutgoingCallsPerDevice: number('max-outgoing-calls', values['max-outgoing-calls'], DEFAULT_ABUSE_LIMITS.maxOutgoingCallsPerDevice),
      maxRingingPerCallee: number('max-ringing', values['max-ringing'], DEFAULT_ABUSE_LIMITS.maxRingingPerCallee),
    },
    presence: { maxWatch: number('max-watch', values['max-watch'], DEFAULT_PRESENCE_OPTIONS.maxWatch), ...(directory ? { directory } : {}) },
    ...(auth ? { auth } : token !== undefined ? { token } : {}),
    ...(allowOrigin && allowOrigin.length > 0 ? { allowOrigin } : {}),
    ...(values.quiet ? {} : { log: consoleLog }),
    ...(values.mitm ? { mitm: true } : {}),
    ...(turn ? { turn } : {}),
    ...(rooms ? { rooms: rooms.config } : {}),
    ...(redis ? { redis } : {}),
  }).then((server) => ({ server, rooms }))).then(
    ({ server, rooms }) => {
      const mode = auth ? `signed tokens (${auth.secret !== undefined ? 'HS256' : 'EdDSA'})` : token !== undefined ? 'shared token' : 'open: user ids as claimed';
      process.stderr.write(`mtcall-signal listening on ${server.url} (authentication: ${mode})\n`);
      if (!allowOrigin?.length) process.stderr.write('no --allow-origin: web pages of any site may connect\n');
      process.stderr.write(turn ? `TURN relay: ${turn.urls.join(', ')} (credentials valid ${turn.ttlSeconds} s)\n` : 'no TURN relay: calls are direct only\n');
      if (turn && !auth && token === undefined) process.stderr.write('warning: without --auth-secret or --token, anyone who reaches this server gets TURN credentials\n');
      if (server.cluster) process.stderr.write(`cluster: instance ${server.cluster.instanceId} through ${redis!.url.replace(/\/\/[^@/]*@/, '//…@')}\n`);
      if (server.cluster) {
        const chats = redis!.chatInstance;
        const elected = server.cluster.core.chatStore instanceof RedisChatStore ? 'secret chats: kept by this instance, in Redis (elected: it holds the writer lease)\n' : 'secret chats: in Redis, forwarded to the instance holding the writer lease (elected)\n';
        process.stderr.write(chats === undefined ? (redis!.electChats ? elected : 'secret chats: in memory, per instance (--no-redis-chats): lost when it stops\n') : chats === server.cluster.instanceId ? 'secret chats: kept by this instance, in Redis\n' : `secret chats: forwarded to instance ${chats} (in Redis)\n`);
      }
      if (rooms) process.stderr.write(`rooms: on (up to ${rooms.config.maxMembers} members each; media through the embedded SFU)\n`);
      if (values.mitm) process.stderr.write('!!! --mitm: this server is a MAN IN THE MIDDLE (demonstration). Emoji will NOT match. !!!\n');
      // SIGTERM (a deploy): tell clients to reconnect and resume, then exit — within 5 s whatever happens.
      const stop = (signal: string) => {
        process.stderr.write(`${signal}: telling clients to reconnect, then exiting\n`);
        setTimeout(() => process.exit(0), 5500).unref();
        void server.shutdown(5000).then(() => {
          rooms?.close();
          process.exit(0);
        });
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    },
    (error: Error) => {
      process.stderr.write(`mtcall-signal: ${error.message}\n`);
      process.exit(1);
    },
  );
}

const args = process.argv.slice(2);
try {
  if (args[0] === 'mint-token') {
    mint(args.slice(1)).catch((error: Error) => {
      process.stderr.write(`mtcall-signal mint-token: ${error.message}\n`);
      process.exit(2);
    });
  } else {
    serve(args);
  }
} catch (error) {
  process.stderr.write(`mtcall-signal: ${(error as Error).message}\nTry --help.\n`);
  process.exit(2);
}
