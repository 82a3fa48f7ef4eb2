/**
 * `MtcallClient`: the entry point of the SDK. Connects one device to the signaling server, places and receives
 * calls as `CallSession`s, and follows the presence of the users the app names.
 *
 * @example
 * const client = await MtcallClient.connect({ url: 'wss://calls.example.com/signal', userId: 'alice', token });
 * const call = client.call('bob', { audio: true, video: true });
 * call.on('keys', ({ emoji }) => show(emoji));            // compare with bob's four emoji
 * call.on('remote-stream', (stream) => (video.srcObject = stream));
 * call.on('ended', ({ reason, by }) => console.log(reason, by));
 * client.on('incoming', (call) => call.accept({ audio: true, video: true }));
 */

import { Emitter } from '@mtcall/common';
import { SignalingClient, type PresenceEntry, type WebSocketConstructor } from '@mtcall/signaling';
import type { TransformMode } from '@mtcall/transport';
import { MtcallClientError } from './errors.js';
import { CallSession, type MediaRequest, type SessionContext } from './session.js';
import type { ReconnectOptions } from './reconnect.js';
import { RoomSession, type RoomJoinOptions } from './room.js';
import { SecretChats, type ChatSession } from './chat.js';

/** Options of `MtcallClient.connect`. */
export interface MtcallClientOptions {
  /** ws:// or wss:// URL of the signaling endpoint (or give `urls`). */
  url?: string;
  /** Endpoints of a signaling cluster: the client moves to the next one on every reconnect (see `SignalingClientOptions.urls`). */
  urls?: readonly string[];
  userId: string;
  /** A signed token (JWT) minted by your app server for `userId`, or the server's shared token. */
  token?: string;
  /** Identifies this device among the user's devices (default: random). */
  deviceId?: string;
  /** Extra STUN/TURN servers; the signaling server's TURN credentials are added to these. */
  iceServers?: RTCIceServer[];
  /** Only relay candidates (TURN): the other side never learns this device's address. */
  relayOnly?: boolean;
  /** Users whose presence to follow (the app's contacts); change with `watch()`. */
  watch?: string[];
  /** Follow the server's "everyone online" directory, where the server offers one. */
  directory?: boolean;
  /**
   * Creates the frame-encryption worker (a module worker running `@mtcall/transport/worker`). Default: the SDK's
   * own `worker.js` beside this module (bundlers such as Vite pick it up).
   */
  worker?: () => Worker;
  /** Creates a room's encryption worker (`@mtcall/transport/room-worker`). Default: the SDK's own `room-worker.js`. */
  roomWorker?: () => Worker;
  /** Force the encoded-transform API (default: detected). */
  transform?: TransformMode;
  /** Prefer this video codec: 'VP8', 'VP9' or 'H264' (default: the browser's order; AV1 is never negotiated). */
  videoCodec?: string;
  /**
   * When a call's media path breaks: restart ICE after `restartAfterMs` (default 2 s), again every `restartEveryMs`
   * (8 s), and end the call with `connection-lost` after `giveUpAfterMs` (30 s).
   */
  reconnect?: Partial<ReconnectOptions>;
  /** How often the security state samples the media counters (ms, default 500). */
  statsIntervalMs?: number;
  /** WebSocket implementation (default: the browser's). */
  WebSocket?: WebSocketConstructor;
}

/** Events of a client. */
export interface MtcallClientEvents extends Record<string, unknown> {
  /** A call is ringing on this device: `accept()` or `decline()` it. */
  incoming: CallSession;
  /** Everyone this device follows, after any change (sorted by user id). */
  presence: PresenceEntry[];
  /** One followed user changed. */
  'presence-change': PresenceEntry;
  error: MtcallClientError;
  /** The signaling connection closed for good (refused, replaced, or `close()`): calls end. */
  disconnected: { code: number; reason: string };
  /** Another user opened a secret chat with this device (accepted automatically): listen to its `message`. */
  chat: ChatSession;
  /** The signaling connection dropped; established calls carry on (their media does not pass through the server). */
  'signaling-reconnecting': { attempt: number; delayMs: number };
  /** Connected to the server again: `resumed` calls have their in-call signaling back, `lost` ones do not. */
  'signaling-reconnected': { resumed: string[]; lost: string[] };
}

/** One device's connection. */
export class MtcallClient extends Emitter<MtcallClientEvents> {
  readonly userId: string;
  readonly #signaling: SignalingClient;
  readonly #options: MtcallClientOptions;
  readonly #sessions = new Set<CallSession>();
  readonly #context: SessionContext;
  readonly #chats: SecretChats;
  /** Media only through a TURN relay, for calls whose key is agreed from now on (starts as `options.relayOnly`). */
  relayOnly: boolean;

  /**
   * Connects and authenticates. Rejects with `MtcallClientError` `connection-failed` (unreachable, refused token).
   */
  static async connect(options: MtcallClientOptions): Promise<MtcallClient> {
    const client = new MtcallClient(options);
    try {
      await client.#signaling.connect();
    } catch (error) {
      client.#signaling.close();
      throw new MtcallClientError('connection-failed', error instanceof Error ? error.message : String(error), { cause: error });
    }
    return client;
  }

  private constructor(options: MtcallClientOptions) {
    super();
    this.#options = options;
    this.userId = options.userId;
    this.relayOnly = options.relayOnly ?? false;
    this.#signaling = new SignalingClient({
      ...(options.url !== undefined ? { url: options.url } : {}),
      ...(options.urls !== undefined ? { urls: options.urls } : {}),
      userId: options.userId,
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.deviceId !== undefined ? { deviceId: options.deviceId } : {}),
      ...(options.watch ? { watch: options.watch } : {}),
      ...(options.directory ? { presence: true } : {}),
      ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
    });
    this.#context = {
      iceServers: () => [...(options.iceServers ?? []), ...this.#signaling.iceServers],
      iceTransportPolicy: () => (this.relayOnly ? 'relay' : 'all'),
      createWorker: options.worker ?? (() => new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })),
      transform: options.transform,
      videoCodec: options.videoCodec,
      reconnect: options.reconnect,
      statsIntervalMs: options.statsIntervalMs ?? 500,
      now: () => Date.now(),
      forget: (session) => this.#sessions.delete(session),
    };
    this.#signaling.on('incoming', (call) => {
      const session = new CallSession(this.#context, { role: 'callee', peerId: call.peerId, video: call.video, call });
      this.#sessions.add(session);
      this.emit('incoming', session);
    });
    this.#chats = new SecretChats(this.#signaling);
    this.#chats.on('chat', (session) => this.emit('chat', session));
    this.#signaling.on('presence', (list) => this.emit('presence', list));
    this.#signaling.on('presenceChange', (entry) => this.emit('presence-change', entry));
    this.#signaling.on('error', (e) => this.emit('error', new MtcallClientError('signaling', `${e.code}: ${e.message}`)));
    this.#signaling.on('close', (e) => this.emit('disconnected', e));
    this.#signaling.on('reconnecting', ({ attempt, delayMs }) => this.emit('signaling-reconnecting', { attempt, delayMs }));
    this.#signaling.on('reconnected', (e) => this.emit('signaling-reconnected', e));
  }

  /** Calls in progress on this device. */
  get calls(): CallSession[] {
    return [...this.#sessions];
  }

  /** What this device knows of the users it follows. */
  get presence(): PresenceEntry[] {
    return this.#signaling.presence;
  }

  /** Follows exactly these users' presence (the server caps how many). */
  watch(users: readonly string[]): void {
    this.#signaling.watch(users);
  }

  /**
   * Calls `userId`. The returned session acquires the camera/microphone first (the browser may ask), then rings.
   * Listen to `ringing`, `keys`, `security`, `remote-stream`, `ended` and `error`.
   */
  call(userId: string, request: MediaRequest = { audio: true, video: true }): CallSession {
    const video = request.video !== undefined && request.video !== false;
    const session = new CallSession(this.#context, { role: 'caller', peerId: userId, video });
    this.#sessions.add(session);
    queueMicrotask(() => void session.startOutgoing(request, () => this.#signaling.call(userId, { video })));
    return session;
  }

  /**
   * Joins a room (a group call through the server's SFU, end to end encrypted): resolves once joined and sending.
   * Listen to `code` (the four emoji to compare aloud), `track`, `members`, `epoch`, `security` and `warning`.
   * A lost room (its server instance stopped) is joined again by itself: `rejoining`, then `rejoined` and a new
   * `code` (options: `rejoin`).
   */
  async join(roomId: string, options: RoomJoinOptions = {}): Promise<RoomSession> {
    const room = new RoomSession(
      {
        signaling: this.#signaling,
        createRoomWorker: this.#options.roomWorker ?? (() => new Worker(new URL('./room-worker.js', import.meta.url), { type: 'module' })),
        transform: this.#options.transform,
        iceServers: () => [...(this.#options.iceServers ?? []), ...this.#signaling.iceServers],
        now: () => Date.now(),
      },
      roomId,
      options,
    );
    try {
      await room.start();
    } catch (error) {
      await room.leave();
      throw error;
    }
    return room;
  }

  /**
   * The secret chat with `userId` (end-to-end encrypted messages and files, also while they are offline): the open
   * one, or a new one whose request goes out now. `send()` once its state is `established`.
   * @throws MtcallClientError `not-connected`
   */
  chat(userId: string): ChatSession {
    return this.#chats.chat(userId);
  }

  /** Open secret chats (requesting or established). */
  get chats(): ChatSession[] {
    return this.#chats.sessions;
  }

  /** Hangs up every call and closes the connection. */
  close(): void {
    for (const session of this.#sessions) session.hangUp();
    this.#signaling.close();
  }

  /** The options the client was created with (without the token). */
  get options(): Omit<MtcallClientOptions, 'token'> {
    const { token: _token, ...rest } = this.#options;
    return rest;
  }
}
