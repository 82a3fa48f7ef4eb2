/**
 * The WebSocket adapter of the signaling server: `ws` on the outside, `SignalingServerCore` inside.
 * Thin on purpose — every decision is in the core.
 */

import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { TELEGRAM_DH_GROUP } from '@mtcall/crypto';
import { turnCredentials, type TurnOptions } from './turn.js';
import type { IncomingMessage } from 'node:http';
import { createTokenVerifier, type TokenVerifierOptions } from './auth.js';
import { originAllowed } from './origin.js';
import { ClusterNode, checkClusterOptions } from './cluster-node.js';
import { createClient } from 'redis';
import { ChatStoreLeaseError, RedisChatStore } from './chat-redis.js';
import { NotTheWriterChatStore } from './server-chats.js';
import { connectRedisCluster, DEFAULT_INSTANCE_TTL_MS, DEFAULT_REDIS_PREFIX, type RedisClusterLink, type RedisClusterOptions } from './cluster-redis.js';
import {
  CLOSE_CODES,
  DEFAULT_ROOM_OPTIONS,
  DEFAULT_SERVER_LIMITS,
  SignalingServerCore,
  runRoomRequest,
  type ConnectionId,
  type RoomMedia,
  type RoomOptions,
  type ServerLogEntry,
  type ServerOutput,
  type SignalingServerOptions,
  type TokenVerdict,
} from './server-core.js';

export { SignalingServerCore, DEFAULT_SERVER_LIMITS, DEFAULT_ABUSE_LIMITS, DEFAULT_ROOM_OPTIONS, CLOSE_CODES, runRoomRequest } from './server-core.js';
export { MemoryChatStore, DEFAULT_CHAT_LIMITS, CHAT_RETENTION_MS } from './server-core.js';
export type { ChatLimits, ChatStore, ChatRecord, QueuedUpdate, StoredFile, DeviceAddress, ChatStats } from './server-core.js';
export { HONEST_RELAY, type RelayStrategy, type KeyExchangeRelay, type KeyExchangeInfo } from './relay.js';
export { MitmRelay, type MitmRelayOptions } from './mitm.js';
export { turnCredentials, turnPassword, parseTurnOptions, type TurnOptions, type TurnIceServer } from './turn.js';
export { createTokenVerifier, mintToken, type TokenVerifierOptions, type MintTokenOptions } from './auth.js';
export { originAllowed } from './origin.js';
export { ClusterNode, ClusterConfigError, checkClusterOptions, type ClusterNodeOptions, type ClusterMessage, type ClusterOutput, type DirectoryDelta, type ClusterStats } from './cluster-node.js';
export { DEFAULT_INSTANCE_TTL_MS, DEFAULT_REDIS_PREFIX, type RedisClusterOptions } from './cluster-redis.js';
export { RedisChatStore, ChatStoreLeaseError, type RedisChatStoreOptions } from './chat-redis.js';
export { startLocalRedis, LocalRedisError, type LocalRedis } from './redis-server.js';
export { PresenceRegistry, DEFAULT_PRESENCE_OPTIONS, type PresenceOptions } from './presence.js';
export type {
  SignalingServerOptions, ServerLogEntry, ServerOutput, ConnectionId, ServerStats, RateLimit, AuthMode, AbuseLimits, TokenVerdict, RoomOptions, RoomMedia,
  RoomRequest, RoomMediaOutcome,
} from './server-core.js';

/** Rooms with an SFU: the SFU (e.g. `await Sfu.start()` from @mtcall/sfu) and the room limits. */
export interface RoomsConfig extends Partial<RoomOptions> {
  media: RoomMedia;
}

/** Options of `startSignalingServer`; everything but the network has defaults. */
export interface StartSignalingServerOptions extends Partial<Omit<SignalingServerOptions, 'auth' | 'rooms'>> {
  /** Rooms (group calls through an SFU); absent: room messages get `rooms-disabled`. The SFU is not closed by `close()`. */
  rooms?: RoomsConfig;
  /** A shared token every `hello` must carry (the simple mode; compared in constant time). */
  token?: string;
  /**
   * Signed tokens (JWT, HS256 with a secret or EdDSA with a public key): the production mode. A device may then
   * only use the user id its token names. Takes precedence over `token`.
   */
  auth?: TokenVerifierOptions;
  /**
   * Origins (`scheme://host[:port]`) whose web pages may connect. When set, a WebSocket upgrade whose `Origin`
   * header names any other origin is refused with HTTP 403 (clients that send no Origin, i.e. not browsers, are
   * not affected). Unset: any origin may connect.
   */
  allowOrigin?: readonly string[];
  /** TCP port (0 = any free port). Default 8443. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** @deprecated ignored: the server wakes exactly when the core's next deadline is due (`nextWakeAt`). */
  tickMs?: number;
  /** An existing HTTP server to attach to (then `port`/`host` are ignored), e.g. the demo's. */
  server?: import('node:http').Server;
  /** URL path of the WebSocket endpoint. Default '/signal'. */
  path?: string;
  /**
   * A TURN relay sharing `secret` with this server (coturn `use-auth-secret`): every device gets credentials
   * valid for `ttlSeconds` in its `welcome`. Without it (and without `iceServers`), calls are direct only.
   */
  turn?: TurnOptions;
  /**
   * Run as one instance of a cluster sharing presence, device routing, calls and rooms through Redis (`cluster-node.ts`):
   * a caller on one instance reaches the callee's devices on any other. Absent: everything in this process.
   */
  redis?: RedisClusterOptions;
}

/** A running server. */
export interface RunningSignalingServer {
  /** ws://host:port/path */
  readonly url: string;
  readonly port: number;
  readonly core: SignalingServerCore;
  /** With `redis`: this instance's cluster node (its id, its stand-ins and routing counters). */
  readonly cluster?: ClusterNode;
  /** Stops accepting, closes every connection, resolves when done. */
  close(): Promise<void>;
  /**
   * Graceful stop (SIGTERM): stops accepting and tells every client to reconnect (close 1012 "server restarting"),
   * so a rolling restart loses no established call — media does not pass through the server, and clients resume
   * their calls on whichever instance they reach. Resolves once every socket closed, or after `graceMs` (default 5 s).
   */
  shutdown(graceMs?: number): Promise<void>;
}

/** The default DH config: Telegram's 2048-bit safe prime with g = 3, version 1. */
export const DEFAULT_DH_CONFIG = { version: 1, p: TELEGRAM_DH_GROUP.p, g: TELEGRAM_DH_GROUP.g } as const;

const CLOSE_CODES_RESTARTING = CLOSE_CODES.restarting;

/** Starts the signaling server. */
export async function startSignalingServer(options: StartSignalingServerOptions = {}): Promise<RunningSignalingServer> {
  const coreOptions: SignalingServerOptions = {
    dhConfig: options.dhConfig ?? DEFAULT_DH_CONFIG,
    ringTimeoutMs: options.ringTimeoutMs ?? DEFAULT_SERVER_LIMITS.ringTimeoutMs,
    confirmTimeoutMs: options.confirmTimeoutMs ?? DEFAULT_SERVER_LIMITS.confirmTimeoutMs,
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_SERVER_LIMITS.maxMessageBytes,
    rateLimit: options.rateLimit ?? { ...DEFAULT_SERVER_LIMITS.rateLimit },
  };
  const verifyToken = options.auth ? await createTokenVerifier(options.auth) : undefined;
  if (verifyToken) coreOptions.auth = { kind: 'signed-token' };
  else if (options.token !== undefined) coreOptions.auth = { kind: 'shared-token', token: options.token };
  if (options.presence) coreOptions.presence = options.presence;
  if (options.limits) coreOptions.limits = options.limits;
  if (options.resumeGraceMs !== undefined) coreOptions.resumeGraceMs = options.resumeGraceMs;
  if (options.log !== undefined) coreOptions.log = options.log;
  if (options.mitm) coreOptions.mitm = true;
  if (options.relay) coreOptions.relay = options.relay;
  const media = options.rooms?.media;
  if (options.rooms) {
    coreOptions.rooms = { maxMembers: options.rooms.maxMembers ?? DEFAULT_ROOM_OPTIONS.maxMembers, maxRooms: options.rooms.maxRooms ?? DEFAULT_ROOM_OPTIONS.maxRooms };
  }
  if (options.iceServers) coreOptions.iceServers = options.iceServers;
  if (options.chatStore) coreOptions.chatStore = options.chatStore;
  if (options.chatLimits) coreOptions.chatLimits = options.chatLimits;
  const turn = options.turn;
  if (turn) {
    if (turn.urls.length === 0 || !turn.secret) throw new Error('turn: needs at least one URL and a secret');
    coreOptions.iceServers = (userId, now) => [turnCredentials(turn, userId, now)];
  }
  const instanceId = options.redis?.instanceId ?? `i-${Math.random().toString(36).slice(2, 10)}`;
  const instanceTtlMs = options.redis?.instanceTtlMs ?? DEFAULT_INSTANCE_TTL_MS;
  let chatStore: RedisChatStore | undefined;
  const redis = options.redis;
  const storeOptions = redis && {
    url: redis.url, prefix: redis.prefix ?? DEFAULT_REDIS_PREFIX, instanceId, leaseMs: instanceTtlMs,
    ...(options.chatLimits?.retentionMs !== undefined ? { retentionMs: options.chatLimits.retentionMs } : {}),
    ...(options.log ? { log: options.log } : {}),
    onLeaseLost: (why: string) => stepDown(why),
  };
  /** Elected writer: the client an instance not (yet) elected tries the lease on, and who holds it as last seen. */
  const elect = redis?.chatInstance === undefined && redis?.electChats === true ? { client: createClient({ url: redis.url, name: `mtcall-chats-${instanceId}` }), holder: null as string | null } : undefined;
  if (storeOptions && redis?.chatInstance !== undefined && redis.chatInstance === instanceId) {
    checkClusterOptions({ instanceId, instanceTtlMs, chatInstance: redis.chatInstance });
    chatStore = await RedisChatStore.open(storeOptions);
  } else if (storeOptions && elect) {
    checkClusterOptions({ instanceId, instanceTtlMs });
    elect.client.on('error', (error: Error) => options.log?.({ event: 'redis-error', detail: `chat election: ${error.message}` }));
    await elect.client.connect();
    chatStore = await RedisChatStore.open({ ...storeOptions, client: elect.client }).catch((error: unknown) => {
      if (!(error instanceof ChatStoreLeaseError)) throw error;
      elect.holder = error.holder;
      return undefined;
    });
  }
  if (chatStore) coreOptions.chatStore = chatStore;
  // Another instance keeps the chats (pinned elsewhere, or elected and not this one): the core refuses any chat frame.
  else if (redis && (elect || (redis.chatInstance !== undefined && redis.chatInstance !== instanceId))) coreOptions.chatStore = new NotTheWriterChatStore();
  const core = new SignalingServerCore(coreOptions);
  let cluster: RedisClusterLink | undefined;
  if (redis) {
    const node = new ClusterNode(core, {
      instanceId, instanceTtlMs, ...(redis.chatInstance !== undefined ? { chatInstance: redis.chatInstance } : {}),
      ...(redis.roomJoinsPerMinute !== undefined ? { roomJoinsPerMinute: redis.roomJoinsPerMinute } : {}),
    }, Date.now());
    if (elect && !chatStore) node.setChatOwner(elect.holder);
    cluster = await connectRedisCluster(node, { url: redis.url, prefix: redis.prefix ?? DEFAULT_REDIS_PREFIX, instanceTtlMs, log: options.log, ...(chatStore ? { client: chatStore.client } : elect ? { client: elect.client } : {}) });
  }
  /**
   * Not the writer (not elected at start, or its lease was lost): try the lease again every third of its TTL; while
   * another instance holds it, forward chat frames there; once taken, load the chats from Redis into the core and send
   * every known device its queue.
   */
  let electing: ReturnType<typeof setInterval> | undefined;
  /** The connection the lease is taken on (the writer's store's, or the election's). */
  const leaseClient = chatStore?.client ?? elect?.client;
  const startElecting = () => {
    if (!storeOptions || !cluster || !leaseClient || electing !== undefined) return;
    const link = cluster;
    const node = cluster.node;
    let trying = false;
    electing = setInterval(() => {
      if (trying || stopped || chatStore || !leaseClient.isReady) return;
      trying = true;
      RedisChatStore.open({ ...storeOptions, client: leaseClient }).then(
        (store) => {
          clearInterval(electing);
          electing = undefined;
          if (stopped) return void store.close(true);
          chatStore = store;
          core.useChatStore(store);
          options.log?.({ event: 'chat-writer', detail: `this instance now keeps the secret chats (lease ${storeOptions.prefix}chat:writer)` });
          apply(link.takeChats(Date.now()));
        },
        (error: unknown) => {
          if (error instanceof ChatStoreLeaseError) node.setChatOwner(error.holder);
          else options.log?.({ event: 'redis-error', detail: `chat election: ${error instanceof Error ? error.message : String(error)}` });
        },
      ).finally(() => (trying = false));
    }, Math.max(100, Math.floor(instanceTtlMs / 3)));
    electing.unref();
  };
  if (elect && !chatStore) startElecting();
  /**
   * The writer's lease was lost (a pause or a Redis partition longer than the lease; Redis already refuses its
   * changes): chat frames are refused until the new writer is known, the core drops the chats it held (the new
   * writer has them in Redis), and this instance tries for the lease again like any other.
   */
  function stepDown(why: string): void {
    const lost = chatStore;
    chatStore = undefined;
    cluster?.node.setChatOwner(null);
    core.useChatStore(new NotTheWriterChatStore());
    options.log?.({ event: 'chat-writer-lost', detail: `this instance no longer keeps the secret chats: ${why}` });
    void lost?.close(true);
    startElecting();
  }
  const closeChats = async () => {
    clearInterval(electing);
    if (chatStore) return chatStore.close();
    if (leaseClient?.isOpen) await leaseClient.close().catch(() => {});
  };
  /** What the socket events drive: the core, or the cluster node around it. */
  const engine: Pick<SignalingServerCore, 'open' | 'receive' | 'close' | 'tick' | 'tokenVerified' | 'roomMediaDone' | 'nextWakeAt'> = cluster ?? core;
  const path = options.path ?? '/signal';
  // The hard limit closes the socket; below it, oversized frames get a polite error from the core.
  const maxPayload = Math.max(1024 * 1024, coreOptions.maxMessageBytes * 4);
  const allowOrigin = options.allowOrigin;
  const verifyClient = (info: { origin: string; req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void): void => {
    if (allowOrigin === undefined || originAllowed(info.req.headers.origin, allowOrigin)) return done(true);
    options.log?.({ event: 'refused-origin', detail: String(info.req.headers.origin).slice(0, 200) });
    done(false, 403, 'Forbidden');
  };
  const wss = options.server
    ? new WebSocketServer({ server: options.server, path, maxPayload, verifyClient })
    : new WebSocketServer({ host: options.host ?? '127.0.0.1', port: options.port ?? 8443, path, maxPayload, verifyClient });
  if (!options.server) {
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
  }
  const sockets = new Map<ConnectionId, WebSocket>();
  let nextId = 1;

  // The core says when it next needs waking; one timer follows that, re-armed after every batch of outputs.
  let wake: ReturnType<typeof setTimeout> | undefined;
  let wakeAt: number | undefined;
  let stopped = false;
  const schedule = () => {
    const next = engine.nextWakeAt();
    if (next === wakeAt || stopped) return;
    if (wake !== undefined) clearTimeout(wake);
    wakeAt = next;
    wake = undefined;
    if (next === undefined) return;
    wake = setTimeout(() => {
      wake = undefined;
      wakeAt = undefined;
      apply(engine.tick(Date.now()));
    }, Math.max(0, next - Date.now()));
    wake.unref();
  };

  const apply = (outputs: ServerOutput[]) => {
    applyOutputs(outputs);
    schedule();
  };

  /**
   * With the Redis chat store, outputs wait (in order) for the store's writes made before them: a reply such as
   * `chatSent` never reaches a client before the change it confirms reached Redis. Replies routed to another
   * instance need no wait: they are published on the store's own connection, after its writes.
   */
  const held: ServerOutput[][] = [];
  const applyOutputs = (outputs: ServerOutput[]) => {
    if (chatStore === undefined || (held.length === 0 && chatStore.pendingWrites === 0)) return sendOutputs(outputs);
    held.push(outputs);
    if (held.length === 1) void chatStore.settled().then(() => held.splice(0).forEach(sendOutputs));
  };

  const sendOutputs = (outputs: ServerOutput[]) => {
    // A message object addressed to many connections (presence) is serialised once.
    let texts: Map<object, string> | undefined;
    for (const output of outputs) {
      if (output.kind === 'room-media') {
        // The SFU works even for a connection that closed meanwhile (a leave must still close its transports).
        const { to, request } = output;
        if (!media) continue;
        void runRoomRequest(media, request).then((outcome) => apply(engine.roomMediaDone(to, request, outcome, Date.now())));
        continue;
      }
      const socket = sockets.get(output.to);
      if (!socket || socket.readyState !== socket.OPEN) continue;
      switch (output.kind) {
        case 'send': {
          texts ??= new Map();
          let text = texts.get(output.message);
          if (text === undefined) texts.set(output.message, (text = JSON.stringify(output.message)));
          socket.send(text);
          break;
        }
        case 'close':
          socket.close(output.code, output.reason);
          break;
        case 'verify-token': {
          const id = output.to;
          const verdict: Promise<TokenVerdict> = verifyToken ? verifyToken(output.token) : Promise.resolve({ ok: false, reason: 'no verifier configured' });
          void verdict.then((v) => apply(engine.tokenVerified(id, v, Date.now())));
          break;
        }
      }
    }
  };

  cluster?.attach(apply);
  schedule(); // a cluster node beats from the start (the core alone has no deadline yet)

  wss.on('connection', (socket, request) => {
    const id = nextId++;
    sockets.set(id, socket);
    apply(engine.open(id, Date.now(), request.socket.remoteAddress));
    socket.on('message', (data, isBinary) => {
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      const text = isBinary ? '\u0000binary' : buffer.toString('utf8');
      let outputs: ServerOutput[];
      try {
        outputs = engine.receive(id, text, buffer.length, Date.now());
      } catch (error) {
        // A bug in the core must cost one connection, never the server: report it, close that socket.
        options.log?.({ event: 'internal-error', connection: id, detail: error instanceof Error ? error.message : String(error) });
        outputs = [{ kind: 'close', to: id, code: 1011, reason: 'internal error' }];
      }
      apply(outputs);
    });
    socket.on('close', () => {
      sockets.delete(id);
      apply(engine.close(id, Date.now()));
    });
    socket.on('error', () => socket.terminate());
  });


  const address = options.server ? (options.server.address() as AddressInfo | null) : (wss.address() as AddressInfo);
  const port = address?.port ?? 0;
  const host = options.server ? '127.0.0.1' : (options.host ?? '127.0.0.1');
  return {
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${port}${path}`,
    port,
    core,
    ...(cluster ? { cluster: cluster.node } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        stopped = true;
        if (wake !== undefined) clearTimeout(wake);
        for (const socket of sockets.values()) socket.terminate();
        wss.close(() => resolve());
      }).then(() => cluster?.leave()).then(closeChats),
    shutdown: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        stopped = true;
        if (wake !== undefined) clearTimeout(wake);
        const closed = [...sockets.values()].map((socket) => new Promise<void>((done) => {
          if (socket.readyState === socket.CLOSED) return done();
          socket.once('close', () => done());
          socket.close(CLOSE_CODES_RESTARTING, 'server restarting');
        }));
        const force = setTimeout(() => {
          for (const socket of sockets.values()) socket.terminate();
        }, graceMs);
        force.unref();
        void Promise.all(closed).then(() => {
          clearTimeout(force);
          wss.close(() => resolve());
        });
      }).then(() => cluster?.leave()).then(closeChats),
  };
}

/** A log sink printing one readable line per event to stderr. */
export function consoleLog(entry: ServerLogEntry): void {
  const parts = [new Date().toISOString(), entry.event];
  if (entry.userId) parts.push(`user=${entry.userId}${entry.deviceId ? '/' + entry.deviceId : ''}`);
  if (entry.callId) parts.push(`call=${entry.callId.slice(0, 8)}`);
  if (entry.detail) parts.push(entry.detail);
  process.stderr.write(parts.join(' ') + '\n');
}
