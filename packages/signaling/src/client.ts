/**
 * `SignalingClient`: one device's connection to the signaling server, wiring the WebSocket to the handshake
 * machines. Works in browsers (platform WebSocket) and Node (pass `ws`'s WebSocket class). Each call is a
 * `Call` with events for its state, the agreed keys and emoji, its end, and the sealed in-call signaling.
 */

import { DhCheckError, SeqExhaustedError, base64ToBytes, bytesToBase64, bytesToHex, checkDhConfig, randomBytes, sha256 } from '@mtcall/crypto';
import { Emitter } from '@mtcall/common';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import {
  CalleeHandshake,
  CallerHandshake,
  type CallKeys,
  type DhConfig,
  type HandshakeState,
  type HandshakeStep,
  type HandshakeTimeouts,
} from './handshake.js';
import {
  PROTOCOL_VERSION,
  parseServerMessage,
  type CallEndReason,
  type ClientMessage,
  type IceServerInfo,
  type PresenceEntry,
  type RoomServerMessage,
  type ChatServerMessage,
  type ServerMessage,
} from './protocol.js';
import { SecureSignalingChannel, type InCallMessage, type SignalingDropReason } from './secure-channel.js';

/** The subset of the WebSocket API the client uses (browser WebSocket and `ws` both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: (event: { data?: unknown; code?: number; reason?: string }) => void): void;
}

/** A WebSocket constructor. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Where a verified DH config is kept between connections (e.g. localStorage in a browser). */
export interface DhConfigCache {
  get(): DhConfig | undefined;
  set(config: DhConfig): void;
}

/** In-memory DH config cache (the default). */
export function memoryDhConfigCache(): DhConfigCache {
  let config: DhConfig | undefined;
  return { get: () => config, set: (c) => void (config = c) };
}

/** Options of a client. */
export interface SignalingClientOptions {
  /** ws:// or wss:// URL of the server's endpoint (or give `urls`). */
  url?: string;
  /**
   * Several endpoints of one cluster (instances sharing a Redis, `mtcall-signal --redis`): the client connects to
   * the first and moves to the next one on every reconnect, so an instance that dies costs its clients one
   * reconnect, after which they resume their calls on another. Takes precedence over `url`.
   */
  urls?: readonly string[];
  userId: string;
  /** Identifies this device among the user's devices (default: random). */
  deviceId?: string;
  /** The server's shared token, or a signed token (JWT) for `userId` minted by the app's server. */
  token?: string;
  /**
   * Follow the server's "everyone online" directory (only servers started with one offer it; it is capped).
   * Apps should prefer `watch`: the users they care about.
   */
  presence?: boolean;
  /** Users whose presence to follow from the start (the app's contacts); change later with `watch()`. */
  watch?: readonly string[];
  /** WebSocket implementation; default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  dhConfigCache?: DhConfigCache;
  timeouts?: Partial<HandshakeTimeouts>;
  /**
   * Reconnect by itself when the connection drops (not when it was refused or replaced, nor after `close()`), with
   * exponential backoff and jitter (default on). Established calls carry on — their media never passes through the
   * server — and the server hands them to the new connection (`resumeToken`); in-call signaling sent meanwhile is
   * queued. Calls still being set up end with `disconnected`. `false` turns this off.
   */
  reconnect?: Partial<BackoffOptions> | false;
  /** Clock (default Date.now) and how often deadlines are checked (default 250 ms). */
  now?: () => number;
  tickMs?: number;
}

/** Request ids of secret-chat messages start with this (their error replies go to `chatError`). */
export const CHAT_REQUEST_PREFIX = 'chat-';

/** Events of a client. */
export interface SignalingClientEvents extends Record<string, unknown> {
  /** A call is ringing on this device. */
  incoming: Call;
  /** Everyone this device follows, whenever one of them changes (sorted by user id; offline users have 0 devices). */
  presence: PresenceEntry[];
  /** One followed user changed (joined, left, busy, free). */
  presenceChange: PresenceEntry;
  /** A server error reply not tied to a call, or a malformed server frame. */
  error: { code: string; message: string };
  /** The connection closed (for good: refused, replaced, or `close()`; or before reconnecting, see `reconnecting`). */
  close: { code: number; reason: string };
  /** A room message from the server (a `RoomSession` of @mtcall/client consumes these). */
  room: RoomServerMessage;
  /** A room error reply (it names the room): for the room session, not the app. */
  roomError: { code: string; message: string; roomId: string; requestId?: string };
  /**
   * A member of a room this device is in asks for a pairwise key exchange (the room's distributor): never an
   * `incoming` call — the room session accepts or declines it.
   */
  roomExchange: Call;
  /** A secret-chat message from the server (the chats of @mtcall/client consume these; ack updates with `chatAck`). */
  chat: ChatServerMessage;
  /** A refused secret-chat message (it names the chat, or the `chat-` request it answers): for the chats, not the app. */
  chatError: { code: string; message: string; chatId?: string; requestId?: string };
  /** The connection dropped; the next attempt starts in `delayMs`. */
  reconnecting: { attempt: number; delayMs: number; code: number };
  /**
   * Connected again; `resumed`: established calls the server carried over, `lost`: those it no longer knew; `room`:
   * the room whose membership it carried over (a `RoomSession` then carries on; `roomResumed` follows).
   */
  reconnected: { resumed: string[]; lost: string[]; room?: string };
}

/** Events of a call. */
export interface CallEvents extends Record<string, unknown> {
  state: HandshakeState;
  /** The key is agreed: compare `keys.emoji` with the peer. */
  established: CallKeys;
  /** The call ended (by either side, the server or a failed check). */
  ended: { reason: CallEndReason; detail: string; byPeer: boolean };
  /** A message of the encrypted in-call signaling channel. */
  signal: InCallMessage;
  /** A signaling packet was dropped (forged, replayed, malformed). */
  signalDropped: SignalingDropReason;
  /**
   * The server connection of this call: `interrupted` while reconnecting (in-call signaling is queued), `resumed`
   * once carried over, `lost` when the server no longer knows the call (e.g. it restarted): media goes on, but
   * in-call signaling (renegotiation) is not possible any more.
   */
  signaling: 'interrupted' | 'resumed' | 'lost';
}

/** One call on this device. */
export class Call extends Emitter<CallEvents> {
  readonly direction: 'outgoing' | 'incoming';
  readonly peerId: string;
  readonly video: boolean;
  /** Set for a room's pairwise key exchange: the room and the other member's number. */
  readonly room: { roomId: string; memberId: number } | undefined;
  readonly #client: SignalingClient;
  readonly #handshake: CallerHandshake | CalleeHandshake;
  #channel: SecureSignalingChannel | undefined;
  #ended: CallEvents['ended'] | undefined;
  #signalingLost = false;

  /** @internal */
  constructor(client: SignalingClient, handshake: CallerHandshake | CalleeHandshake, peerId: string, video: boolean, room?: { roomId: string; memberId: number }) {
    super();
    this.room = room;
    this.#client = client;
    this.#handshake = handshake;
    this.direction = handshake instanceof CallerHandshake ? 'outgoing' : 'incoming';
    this.peerId = peerId;
    this.video = video;
  }

  get callId(): string | undefined {
    return this.#handshake.callId;
  }
  get state(): HandshakeState {
    return this.#handshake.state;
  }
  /** The agreed key, emoji and fingerprint (until the call ends). */
  get keys(): CallKeys | undefined {
    return this.#handshake.keys;
  }
  /** Why it ended, once it has. */
  get ended(): CallEvents['ended'] | undefined {
    return this.#ended;
  }
  /** Counters of the encrypted signaling channel and of discarded handshake input. */
  get stats() {
    return { signaling: this.#channel?.stats, handshake: { ...this.#handshake.counters } };
  }

  /** Accepts an incoming call (picks b and sends g_b). */
  accept(): void {
    if (!(this.#handshake instanceof CalleeHandshake)) throw new Error('accept() is for incoming calls');
    this.#apply(this.#handshake.accept(this.#client.now()));
  }

  /** Declines an incoming call. */
  decline(): void {
    if (!(this.#handshake instanceof CalleeHandshake)) throw new Error('decline() is for incoming calls');
    this.#apply(this.#handshake.decline());
  }

  /** Ends the call and wipes its key. */
  hangUp(reason: CallEndReason = 'hangup'): void {
    this.#apply(this.#handshake.hangUp(reason));
  }

  /**
   * The media path broke (the network may have changed): checks that the server connection carrying this call's
   * signaling is alive, reconnecting if not (`SignalingClient.checkConnection`).
   * @returns true if it answered, false if it was given up (the client reconnects)
   */
  checkConnection(): Promise<boolean> {
    return this.#client.checkConnection();
  }

  /** Sends messages over the encrypted signaling channel (needs the key: after `established`). */
  sendSignal(...messages: InCallMessage[]): void {
    if (!this.#channel || this.state !== 'established') throw new Error('the call has no key yet (wait for "established")');
    if (this.#signalingLost) return; // the server no longer relays this call (see the 'signaling' event)
    let data: string;
    try {
      data = this.#channel.seal(...messages);
    } catch (error) {
      if (error instanceof SeqExhaustedError) return this.hangUp('seq-exhausted');
      throw error;
    }
    this.#client.send({ type: 'signalingData', callId: this.callId!, data });
  }

  /** @internal A server message for this call. */
  receive(message: ServerMessage): void {
    if (message.type === 'signalingData') {
      if (!this.#channel) return;
      const result = this.#channel.open(message.data);
      if (!result.ok) this.emit('signalDropped', result.reason);
      else for (const m of result.messages) this.emit('signal', m);
      return;
    }
    this.#apply(this.#handshake.receive(message));
  }

  /** @internal The client's connection to the server changed for this call. */
  signalingChanged(state: CallEvents['signaling']): void {
    if (state === 'lost') this.#signalingLost = true;
    this.emit('signaling', state);
  }

  /** @internal */
  tick(now: number): void {
    this.#apply(this.#handshake.tick(now));
  }

  /** @internal */
  start(): void {
    if (!(this.#handshake instanceof CallerHandshake)) return;
    const step = this.#handshake.start();
    const room = this.room;
    if (room) for (const m of step.send) if (m.type === 'requestCall') m.room = room;
    this.#apply(step);
  }

  #apply(step: HandshakeStep): void {
    for (const message of step.send) this.#client.send(message);
    for (const event of step.events) {
      switch (event.type) {
        case 'state':
          this.emit('state', event.state);
          break;
        case 'established':
          this.#channel = new SecureSignalingChannel(event.keys.key, this.direction === 'outgoing');
          this.emit('established', event.keys);
          break;
        case 'ended':
          this.#channel?.destroy();
          this.#ended = { reason: event.reason, detail: event.detail, byPeer: event.byPeer };
          this.#client.forget(this);
          this.emit('ended', this.#ended);
          break;
        case 'ignored':
          break;
      }
    }
  }
}

/** Close codes after which reconnecting is pointless (refused, replaced by a newer connection, abusive). */
const CLOSE_CODES_FINAL = { unauthorized: 4001, replaced: 4002, abusive: 1008 } as const;

/** How long an established call waits for its peer to re-join on a restarted server before its signaling is lost. */
const REJOIN_WAIT_MS = 10_000;

/**
 * The proof both sides of a call present to re-join it on a restarted server: SHA256(key ‖ "mtcall-rejoin" ‖ call id).
 * Only holders of the call key can compute it; it reveals nothing of the key.
 */
export function rejoinProof(key: Uint8Array, callId: string): Uint8Array {
  return sha256(key, new TextEncoder().encode('mtcall-rejoin'), new TextEncoder().encode(callId));
}

/** Call messages kept while reconnecting; more are dropped (the channel's seq tells the peer). */
const OFFLINE_QUEUE_LIMIT = 256;

/** How many ended call ids a client remembers to refuse replays of their ring. */
export const ENDED_CALLS_REMEMBERED = 1024;

/** A device's connection to the signaling server. */
export class SignalingClient extends Emitter<SignalingClientEvents> {
  readonly userId: string;
  readonly deviceId: string;
  readonly #options: SignalingClientOptions;
  readonly #cache: DhConfigCache;
  readonly #calls = new Map<string, Call>();
  readonly #pending = new Map<string, Call>();
  #socket: WebSocketLike | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #dhConfig: DhConfig | undefined;
  #iceServers: IceServerInfo[] = [];
  /** What this device knows of the users it follows. */
  readonly #presence = new Map<string, PresenceEntry>();
  /**
   * Ids of calls that ended here, oldest first (at most `ENDED_CALLS_REMEMBERED`): a server that replays a
   * `phoneCallRequested` of an ended call must not ring again.
   */
  readonly #endedCallIds = new Set<string>();
  #watched: string[] | undefined;
  #resumeToken: string | undefined;
  #userClosed = false;
  #attempt = 0;
  /** The endpoints, and which one the current (or next) connection uses. */
  readonly #urls: string[];
  #urlIndex = 0;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  /** The liveness check under way (`checkConnection`): its result, shared by concurrent callers. */
  #check: Promise<boolean> | undefined;
  /** Ends the liveness check under way: the server answered its request (a message from the peer is not enough). */
  #checkAnswered: (() => void) | undefined;
  /** Call messages sent while the connection was down, sent on resume (bounded). */
  #offlineQueue: { callId: string; message: ClientMessage }[] = [];
  #reconnecting = false;
  /** Established calls waiting for the server to re-create them after a restart. */
  readonly #awaitingRejoin = new Set<string>();
  #connected: { resolve: () => void; reject: (error: Error) => void } | undefined;

  /**
   * @throws TypeError when neither `url` nor a non-empty `urls` is given.
   */
  constructor(options: SignalingClientOptions) {
    super();
    this.#urls = options.urls && options.urls.length > 0 ? [...options.urls] : options.url !== undefined ? [options.url] : [];
    if (this.#urls.length === 0) throw new TypeError('SignalingClient needs url or a non-empty urls');
    this.#options = options;
    this.userId = options.userId;
    this.deviceId = options.deviceId ?? bytesToHex(randomBytes(6));
    if (options.watch) this.#watched = [...new Set(options.watch)];
    this.#cache = options.dhConfigCache ?? memoryDhConfigCache();
  }

  /** The clock the client runs on. */
  now(): number {
    return (this.#options.now ?? Date.now)();
  }

  /** The verified DH config in use. */
  get dhConfig(): DhConfig | undefined {
    return this.#dhConfig;
  }

  /**
   * ICE servers the signaling server handed out in `welcome` (short-lived TURN credentials), for
   * RTCConfiguration.iceServers; [] when it has none (calls are then direct only).
   */
  get iceServers(): IceServerInfo[] {
    return this.#iceServers.map((s) => ({ ...s, urls: [...s.urls] }));
  }

  /** What this device knows of the users it follows (sorted by user id). */
  get presence(): PresenceEntry[] {
    return [...this.#presence.values()].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  }

  /**
   * Follows exactly these users' presence (replacing the previous set): the server answers with their current
   * state, then sends one update per change. Servers cap the number (error `watch-limit`, nothing changes).
   */
  watch(users: readonly string[]): void {
    this.#watched = [...new Set(users)];
    this.send({ type: 'watch', users: this.#watched });
  }

  /** Calls in progress on this device. */
  get calls(): Call[] {
    return [...this.#calls.values(), ...this.#pending.values()];
  }

  /**
   * Opens the connection, says hello and fetches the DH config (sending the cached version; a new config is
   * checked with `checkDhConfig` before it is cached). Resolves when ready for calls.
   */
  connect(): Promise<void> {
    const WebSocketImpl = this.#options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketImpl) return Promise.reject(new Error('no WebSocket implementation: pass options.WebSocket (e.g. from "ws")'));
    this.#userClosed = false;
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => {
        const now = this.now();
        for (const call of this.calls) call.tick(now);
      }, this.#options.tickMs ?? 250);
      (this.#timer as { unref?: () => void }).unref?.();
    }
    return new Promise<void>((resolve, reject) => {
      this.#connected = { resolve, reject };
      this.#open(WebSocketImpl);
    });
  }

  #open(WebSocketImpl: WebSocketConstructor): void {
    const url = this.#urls[this.#urlIndex]!;
    const socket = new WebSocketImpl(url);
    this.#socket = socket;
    socket.addEventListener('open', () => {
      const hello: ClientMessage = { type: 'hello', protocol: PROTOCOL_VERSION, userId: this.userId, deviceId: this.deviceId };
      if (this.#options.token !== undefined) hello.token = this.#options.token;
      if (this.#options.presence) hello.presence = true;
      if (this.#resumeToken !== undefined) hello.resume = this.#resumeToken;
      // Should the server have restarted, it can re-create our established calls from both sides' proofs.
      const rejoin = this.calls.flatMap((call) => (call.state === 'established' && call.callId !== undefined && call.keys ? [{ callId: call.callId, role: call.direction === 'outgoing' ? ('caller' as const) : ('callee' as const), proof: bytesToBase64(rejoinProof(call.keys.key, call.callId)) }] : []));
      if (this.#reconnecting && rejoin.length > 0) hello.rejoin = rejoin.slice(0, 8);
      this.send(hello);
    });
    socket.addEventListener('message', (event) => {
      if (this.#socket === socket) this.#onFrame(event.data);
    });
    socket.addEventListener('error', () => this.#connected?.reject(new Error(`cannot connect to ${url}`)));
    socket.addEventListener('close', (event) => {
      if (this.#socket !== socket) return;
      this.#onClose(event.code ?? 0, event.reason ?? '', WebSocketImpl);
    });
  }

  #onClose(code: number, reason: string, WebSocketImpl: WebSocketConstructor): void {
    this.#connected?.reject(new Error(`connection closed (${code} ${reason})`));
    this.#connected = undefined;
    const final = this.#userClosed || this.#options.reconnect === false || code === CLOSE_CODES_FINAL.unauthorized || code === CLOSE_CODES_FINAL.replaced || code === CLOSE_CODES_FINAL.abusive;
    // Calls still being set up cannot survive: the server ends them too. Established ones can (if we reconnect).
    for (const call of this.calls) {
      if (final || call.state !== 'established') call.hangUp('disconnected');
      else call.signalingChanged('interrupted');
    }
    if (final) {
      if (this.#timer !== undefined) clearInterval(this.#timer);
      this.#timer = undefined;
      this.emit('close', { code, reason });
      return;
    }
    this.#reconnecting = true;
    this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
    const delayMs = backoffDelay(this.#attempt, { ...DEFAULT_BACKOFF, ...(this.#options.reconnect ?? {}) });
    this.emit('reconnecting', { attempt: ++this.#attempt, delayMs, code });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.#userClosed) this.#open(WebSocketImpl);
    }, delayMs);
    (this.#reconnectTimer as { unref?: () => void }).unref?.(); // in Node, a pending retry alone keeps no process alive
  }

  /**
   * Checks that the server connection is alive. Call it when the network may have changed under this device (a
   * call's media path broke): a socket whose local address went away stays open for minutes while nothing gets
   * through, and an ICE restart offer sent on it would never arrive. Sends a request the server always answers
   * (`getDhConfig` for the version held: `dhConfigNotModified`); if its answer does not arrive within `timeoutMs`
   * (other messages do not count: the server → device direction may still work while nothing we send gets out), the
   * socket is given up and the client reconnects as after a drop (established calls resume). In-call signaling
   * sent during the check is held, and goes out when the answer comes or once the calls resumed on a new socket.
   * @param timeoutMs how long the server has to answer
   * @returns true if the connection answered (or is not open: nothing to check), false if it was given up
   */
  checkConnection(timeoutMs = 4_000): Promise<boolean> {
    const socket = this.#socket;
    const WebSocketImpl = this.#options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!this.online || !socket || !WebSocketImpl) return Promise.resolve(true);
    if (this.#check) return this.#check;
    this.send({ type: 'getDhConfig', version: this.#dhConfig!.version });
    this.#check = new Promise<boolean>((resolve) => {
      const done = (alive: boolean) => {
        clearTimeout(timer);
        this.#check = undefined;
        this.#checkAnswered = undefined;
        resolve(alive);
      };
      this.#checkAnswered = () => {
        done(true);
        // Alive: what was held during the check goes out now, in order.
        const held = this.#offlineQueue;
        this.#offlineQueue = [];
        for (const { message } of held) this.send(message);
      };
      const timer = setTimeout(() => {
        done(this.#socket !== socket); // replaced meanwhile: that one is new
        if (this.#socket !== socket) return;
        this.#socket = undefined; // whatever the dead socket does later is ignored
        try {
          socket.close(4000, 'no answer');
        } catch {
          // closing a dead socket may throw; it is given up either way
        }
        this.#onClose(1006, 'no answer from the server', WebSocketImpl);
      }, timeoutMs);
      (timer as { unref?: () => void }).unref?.();
    });
    return this.#check;
  }

  /**
   * Places a call. Listen to the returned call's `established` and `ended`. With `room`, a pairwise key exchange with
   * one member of a room this device is in (`calleeId` is that member's user id).
   */
  call(calleeId: string, options: { video?: boolean; room?: { roomId: string; memberId: number } } = {}): Call {
    if (!this.#dhConfig) throw new Error('not connected (await connect() first)');
    const requestId = bytesToHex(randomBytes(8));
    const handshake = new CallerHandshake({
      calleeId,
      video: options.video ?? true,
      requestId,
      dhConfig: this.#dhConfig,
      now: this.now(),
      ...(this.#options.timeouts ? { timeouts: this.#options.timeouts } : {}),
    });
    const call = new Call(this, handshake, calleeId, options.video ?? true, options.room);
    this.#pending.set(requestId, call);
    queueMicrotask(() => call.start()); // lets the caller attach listeners first
    return call;
  }

  /** Closes the connection (calls in progress end with 'hangup'). */
  close(): void {
    this.#userClosed = true;
    for (const call of this.calls) call.hangUp();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#reconnectTimer !== undefined) clearTimeout(this.#reconnectTimer);
    this.#socket?.close(1000, 'bye');
  }

  /** Whether the connection is open and the server welcomed this device (chat messages sent now reach it). */
  get online(): boolean {
    return !this.#reconnecting && this.#socket !== undefined && this.#socket.readyState === 1 && this.#dhConfig !== undefined;
  }

  /** Whether the connection dropped and the client is reconnecting. */
  get reconnecting(): boolean {
    return this.#reconnecting;
  }

  /** @internal Sends one protocol message (a call's messages are queued while reconnecting). */
  send(message: ClientMessage): void {
    // While reconnecting, and while a liveness check is under way (a socket that may be dead would swallow them).
    if ((this.#reconnecting || this.#check !== undefined) && (message.type === 'signalingData' || message.type === 'discardCall')) {
      if (this.#offlineQueue.length < OFFLINE_QUEUE_LIMIT) this.#offlineQueue.push({ callId: message.callId, message });
      return;
    }
    if (this.#socket && this.#socket.readyState === 1) this.#socket.send(JSON.stringify(message));
  }

  /** @internal A call ended: stop routing to it. */
  forget(call: Call): void {
    if (call.callId !== undefined) {
      this.#endedCallIds.add(call.callId);
      if (this.#endedCallIds.size > ENDED_CALLS_REMEMBERED) this.#endedCallIds.delete(this.#endedCallIds.values().next().value!);
    }
    // A call hung up before the server named it stays pending, so its callRequested can still be discarded.
    if (call.callId !== undefined) for (const [key, value] of this.#pending) if (value === call) this.#pending.delete(key);
    if (call.callId !== undefined && this.#calls.get(call.callId) === call) {
      // Keep routing for a moment is not needed: ended handshakes ignore everything.
      this.#calls.delete(call.callId);
    }
  }

  #onFrame(data: unknown): void {
    const text = typeof data === 'string' ? data : data instanceof ArrayBuffer ? new TextDecoder().decode(data) : String(data);
    const parsed = parseServerMessage(text);
    if (!parsed.ok) {
      this.emit('error', { code: parsed.code, message: parsed.message });
      return;
    }
    const message = parsed.message;
    switch (message.type) {
      case 'welcome': {
        this.#iceServers = message.iceServers ?? [];
        this.#resumeToken = message.resumeToken;
        if (this.#reconnecting) this.#onReconnected(message.resumed ?? [], message.resumedRoom);
        this.send({ type: 'getDhConfig', version: this.#cache.get()?.version ?? 0 });
        if (this.#watched) this.send({ type: 'watch', users: this.#watched });
        return;
      }
      case 'dhConfig':
      case 'dhConfigNotModified':
        this.#checkAnswered?.(); // the round trip a liveness check waits for
        return this.#onDhConfig(message);
      case 'presence':
        // A snapshot of one subscription (watch or directory): what it lists replaces what we knew of them.
        if (this.#watched && !this.#options.presence) {
          const keep = new Set(this.#watched);
          for (const userId of this.#presence.keys()) if (!keep.has(userId)) this.#presence.delete(userId);
        }
        for (const entry of message.users) this.#presence.set(entry.userId, { userId: entry.userId, devices: entry.devices, inCall: entry.inCall });
        this.emit('presence', this.presence);
        return;
      case 'presenceUpdate': {
        const entry: PresenceEntry = { userId: message.userId, devices: message.devices, inCall: message.inCall };
        if (entry.devices === 0 && !this.#watched?.includes(entry.userId)) this.#presence.delete(entry.userId);
        else this.#presence.set(entry.userId, entry);
        this.emit('presenceChange', entry);
        this.emit('presence', this.presence);
        return;
      }
      case 'callRequested': {
        const call = this.#pending.get(message.requestId);
        if (!call) return;
        this.#pending.delete(message.requestId);
        this.#calls.set(message.callId, call);
        call.receive(message);
        return;
      }
      case 'phoneCallRequested': {
        if (this.#calls.has(message.callId)) return this.#calls.get(message.callId)!.receive(message);
        if (this.#endedCallIds.has(message.callId)) return; // a replay of a call that already ended here
        if (!this.#dhConfig) return;
        const handshake = new CalleeHandshake({
          offer: { callId: message.callId, callerId: message.callerId, gAHash: base64ToBytes(message.gAHash)!, video: message.video },
          dhConfig: this.#dhConfig,
          now: this.now(),
          ...(this.#options.timeouts ? { timeouts: this.#options.timeouts } : {}),
        });
        const call = new Call(this, handshake, message.callerId, message.video, message.room);
        this.#calls.set(message.callId, call);
        this.emit(message.room ? 'roomExchange' : 'incoming', call);
        return;
      }
      case 'error': {
        if (message.requestId !== undefined && this.#pending.has(message.requestId)) return this.#pending.get(message.requestId)!.receive(message);
        if (message.chatId !== undefined || message.requestId?.startsWith(CHAT_REQUEST_PREFIX)) {
          return this.emit('chatError', {
            code: message.code, message: message.message,
            ...(message.chatId !== undefined ? { chatId: message.chatId } : {}), ...(message.requestId !== undefined ? { requestId: message.requestId } : {}),
          });
        }
        if (message.roomId !== undefined) {
          return this.emit('roomError', { code: message.code, message: message.message, roomId: message.roomId, ...(message.requestId !== undefined ? { requestId: message.requestId } : {}) });
        }
        if (message.callId !== undefined && this.#calls.has(message.callId)) {
          // A refused call message (e.g. wrong-state) is reported but does not end the call by itself.
          this.emit('error', { code: message.code, message: `${message.message} (call ${message.callId.slice(0, 8)})` });
          return;
        }
        this.emit('error', { code: message.code, message: message.message });
        return;
      }
      case 'callRejoined': {
        const call = this.#calls.get(message.callId);
        if (call && this.#awaitingRejoin.delete(message.callId)) {
          call.signalingChanged('resumed');
          this.#flushQueued(message.callId);
        }
        return;
      }
      case 'phoneCallAccepted':
      case 'phoneCall':
      case 'phoneCallDiscarded':
      case 'signalingData':
        this.#calls.get(message.callId)?.receive(message);
        return;
      case 'roomJoined':
      case 'roomMembers':
      case 'transportCreated':
      case 'transportConnected':
      case 'produced':
      case 'consumed':
      case 'consumerResumed':
      case 'producerAdded':
      case 'producerRemoved':
      case 'producerPaused':
      case 'roomResumed':
      case 'roomCode':
        this.emit('room', message);
        return;
      case 'chatUpdate':
      case 'chatCreated':
      case 'chatSent':
      case 'chatPartSaved':
      case 'chatFilePart':
        this.emit('chat', message);
        return;
      default: {
        const unhandled: never = message;
        void unhandled;
      }
    }
  }

  #onReconnected(resumedIds: string[], room: string | undefined): void {
    this.#reconnecting = false;
    this.#attempt = 0;
    const resumed = new Set(resumedIds);
    const waiting: Call[] = [];
    for (const call of this.calls) {
      if (call.callId === undefined || call.state !== 'established') continue;
      if (resumed.has(call.callId)) {
        call.signalingChanged('resumed');
        this.#flushQueued(call.callId);
      } else waiting.push(call);
    }
    if (waiting.length === 0) {
      this.#offlineQueue = [];
      this.emit('reconnected', { resumed: [...resumed], lost: [], ...(room !== undefined ? { room } : {}) });
      return;
    }
    // The server did not know them: it restarted. They come back once the other side re-joins too (callRejoined);
    // those that do not within REJOIN_WAIT_MS have lost their signaling (their media goes on).
    for (const call of waiting) this.#awaitingRejoin.add(call.callId!);
    const rejoinTimer = setTimeout(() => {
      const lost: string[] = [];
      for (const call of waiting) {
        if (!this.#awaitingRejoin.delete(call.callId!)) continue;
        lost.push(call.callId!);
        call.signalingChanged('lost');
        this.#offlineQueue = this.#offlineQueue.filter((q) => q.callId !== call.callId);
      }
      this.emit('reconnected', { resumed: [...resumed, ...waiting.map((c) => c.callId!).filter((id) => !lost.includes(id))], lost, ...(room !== undefined ? { room } : {}) });
    }, REJOIN_WAIT_MS);
    (rejoinTimer as { unref?: () => void }).unref?.();
  }

  #flushQueued(callId: string): void {
    const mine = this.#offlineQueue.filter((q) => q.callId === callId);
    this.#offlineQueue = this.#offlineQueue.filter((q) => q.callId !== callId);
    for (const { message } of mine) this.send(message);
  }

  #onDhConfig(message: Extract<ServerMessage, { type: 'dhConfig' | 'dhConfigNotModified' }>): void {
    let config: DhConfig | undefined;
    if (message.type === 'dhConfigNotModified') {
      config = this.#cache.get();
    } else {
      config = { version: message.version, p: base64ToBytes(message.p)!, g: message.g };
      try {
        checkDhConfig(config.p, config.g);
        this.#cache.set(config);
      } catch (error) {
        // Keep the config so calls fail visibly with 'bad-dh-config' (the handshakes re-check it).
        if (!(error instanceof DhCheckError)) throw error;
        this.emit('error', { code: 'bad-dh-config', message: error.message });
      }
    }
    if (!config) {
      this.emit('error', { code: 'bad-dh-config', message: 'server said the config is not modified but none is cached' });
      return;
    }
    this.#dhConfig = config;
    this.#connected?.resolve();
    this.#connected = undefined;
  }
}
