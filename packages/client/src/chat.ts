/**
 * Secret chats in the SDK: `SecretChats` (one device's chats over its `SignalingClient`) and `ChatSession` (one chat:
 * text, files, delivery and read state, the key visualization). The protocol — DH, the end-to-end TL layer, AES-256-IGE,
 * seq numbers, re-keying, file encryption — is `@mtcall/secret-chat`'s sans-IO `SecretChat`; this module only moves
 * its outputs to the server and the server's updates to it, acknowledges the device's queue, and keeps the history.
 *
 * What the server holds: g_a, g_b, the key fingerprint and ciphertext in each device's queue (until acknowledged or
 * 7 days), and encrypted file parts. Keys stay on the device (wiped when the chat closes). The history lives in
 * memory: a reload starts with no chats (the peer then sees its messages go unanswered; a new chat is needed).
 *
 * @example
 * const chat = client.chat('bob');
 * chat.on('message', (m) => show(m.text));
 * chat.on('key', ({ visualization }) => drawKey(visualization)); // compare with bob's picture
 * chat.send('hi');
 * client.on('chat', (incoming) => incoming.on('message', (m) => show(m.text)));
 */

import { Emitter } from '@mtcall/common';
import { base64ToBytes, bytesToBase64, bytesToHex, randomBytes, wipe } from '@mtcall/crypto';
import {
  SecretChat,
  decryptFile,
  encryptFile,
  fileKeyFingerprint,
  generateFileKey,
  type CloseReason,
  type DecryptedMessage,
  type DecryptedMessageMediaDocument,
  type SecretChatOutput,
} from '@mtcall/secret-chat';
import {
  CHAT_REQUEST_PREFIX,
  MAX_CHAT_FILE_PART_BYTES,
  SERVER_ERROR_CODES,
  type ChatServerMessage,
  type ChatUpdate,
  type ClientMessage,
  type ServerErrorCode,
  type SignalingClient,
} from '@mtcall/signaling';
import { MtcallClientError } from './errors.js';
import { DEFAULT_CHAT_PACE, Pacer, type PaceLimit } from './pacer.js';

/** The states of a chat, written once: waiting for the other side to accept, usable, or over. */
export const CHAT_STATES = ['requesting', 'established', 'closed'] as const;
/** One of `CHAT_STATES`. */
export type ChatState = (typeof CHAT_STATES)[number];

/**
 * Where a message is: `sending` (not yet stored by the server), `delivered` (the server stored it for the other
 * device: one check), `read` (the other side said so: two checks), `failed` (the server refused it: see `failure`,
 * and `ChatSession.retry`); incoming ones are `received` until `markRead()`.
 */
export type ChatMessageStatus = 'sending' | 'delivered' | 'read' | 'failed' | 'received';

/**
 * Why the server refused one of our messages: its error code (e.g. `queue-full` while the other device's offline
 * queue is full, `unknown-file`, `unknown-chat`), or `refused` for a code this SDK does not know.
 */
export type ChatSendFailure = ServerErrorCode | 'refused';

/** An encrypted file attached to a message. */
export interface ChatFile {
  name: string;
  mimeType: string;
  /** Plaintext size in bytes. */
  size: number;
  /** `uploading` → `sent` for ours; `available` → `downloaded` (or `failed`) for theirs. */
  status: 'uploading' | 'sent' | 'available' | 'downloaded' | 'failed';
}

/** One message of a chat's history. `id`: the protocol's random_id (decimal). */
export interface ChatMessage {
  id: string;
  direction: 'out' | 'in';
  text: string;
  /** Local clock (ms) when sent or received. */
  date: number;
  status: ChatMessageStatus;
  /** Set while `status` is `failed`. */
  failure?: ChatSendFailure;
  file?: ChatFile;
}

/** The key of a chat as the users compare it. */
export interface ChatKeyInfo {
  /** The 36 bytes of the seed's visualization: SHA1(initial key)[0..16] ‖ SHA256(key)[0..20]. Same on both sides. */
  visualization: Uint8Array;
  /** The fingerprint of the key in use now (changes with every re-key). */
  fingerprint: bigint;
  /** Re-keys so far (forward secrecy: every 100 messages or week, or `rekey()`). */
  rekeys: number;
}

/** Events of a chat. */
export interface ChatSessionEvents extends Record<string, unknown> {
  /** A message from the other side (text and/or a file, see `file`). */
  message: ChatMessage;
  /** The server stored one of ours for the other device. */
  delivered: ChatMessage;
  /** The server refused one of ours (`status: 'failed'`, `failure` says why); `retry(id)` sends it again. */
  failed: ChatMessage;
  /** The other side read these of ours. */
  read: ChatMessage[];
  /** A message with a file arrived (download it with `downloadFile(id)`), or one of ours finished uploading. */
  file: ChatMessage;
  /** The key was agreed or replaced: show `visualization` beside the chat. */
  key: ChatKeyInfo;
  state: ChatState;
  /** Something went wrong that the chat survived (a refused request, a dropped packet is not one). */
  error: MtcallClientError;
}

/** Options of `SecretChats`. */
export interface SecretChatsOptions {
  /** Clock (default `Date.now`). */
  now?: () => number;
  /** Re-key after this many messages under one key (default 100, the protocol's). */
  rekeyAfterMessages?: number;
  /**
   * How fast chat frames go to the server (default `DEFAULT_CHAT_PACE`, 40/s with a burst of 100: under the server's
   * default 50/s, burst 200). Set it below the server's `--rate` when that is lower.
   */
  pace?: PaceLimit;
}

/** A file message waiting for its download. */
interface IncomingFile {
  fileId: string;
  parts: number;
  key: Uint8Array;
  iv: Uint8Array;
  data?: Uint8Array;
}

/** A request the server has not answered yet (sent again after a reconnect). `message` is unset until written. */
interface Unconfirmed {
  message?: ClientMessage;
  session?: ChatSession;
  randomId?: string;
  resolve?: (value: unknown) => void;
  reject?: (error: Error) => void;
}

/** Upload parts in flight at once. */
const UPLOAD_WINDOW = 4;

/**
 * One secret chat with one user. Obtain it from `MtcallClient.chat(userId)` (or the client's `chat` event for one
 * the other side started).
 */
export class ChatSession extends Emitter<ChatSessionEvents> {
  readonly peerId: string;
  readonly #chats: SecretChats;
  readonly #chat: SecretChat;
  readonly #messages: ChatMessage[] = [];
  readonly #byId = new Map<string, ChatMessage>();
  readonly #files = new Map<string, IncomingFile>();
  /** Files announced by the server, by key fingerprint, until their message is processed. */
  readonly #announced = new Map<number, { fileId: string; parts: number }>();
  /** Our file messages by random_id: their server reference goes with every (re)send. */
  readonly #outgoingFiles = new Map<string, { fileId: string; parts: number; keyFingerprint: number }>();
  #chatId: string | undefined;
  #state: ChatState;
  #closeReason: string | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Our packets before the server named the chat. */
  #early: ClientMessage[] = [];
  /** The refused chatSend of each failed message, by random_id: a retry sends the same packet again. */
  readonly #failedFrames = new Map<string, ClientMessage & { type: 'chatSend' }>();

  /** @internal Created by `SecretChats`. */
  constructor(chats: SecretChats, peerId: string, chat: SecretChat, chatId?: string) {
    super();
    this.#chats = chats;
    this.peerId = peerId;
    this.#chat = chat;
    this.#chatId = chatId;
    this.#state = chat.state === 'established' ? 'established' : chat.state === 'closed' ? 'closed' : 'requesting';
  }

  /** The server's id of the chat (undefined until the server created it). */
  get chatId(): string | undefined {
    return this.#chatId;
  }

  get state(): ChatState {
    return this.#state;
  }

  /** Why the chat closed (`local`, `discarded`, a protocol violation, or `accepted-elsewhere`). */
  get closeReason(): string | undefined {
    return this.#closeReason;
  }

  /** The history, oldest first (a copy). */
  get messages(): ChatMessage[] {
    return this.#messages.map((m) => ({ ...m, ...(m.file ? { file: { ...m.file } } : {}) }));
  }

  /** The key as the users compare it (undefined until agreed). */
  get key(): ChatKeyInfo | undefined {
    const visualization = this.#chat.keyVisualization;
    const fingerprint = this.#chat.keyFingerprint;
    return visualization && fingerprint !== undefined ? { visualization: visualization.slice(), fingerprint, rekeys: this.#chat.stats.rekeys } : undefined;
  }

  /** Protocol counters: sent, received, resent, re-keys, dropped packets by reason. */
  get stats() {
    return this.#chat.stats;
  }

  /**
   * Sends a text message. Returns it (status `sending`, then `delivered` and `read`).
   * @throws MtcallClientError `chat-closed` / `chat-not-ready` (before the other side accepted)
   */
  send(text: string): ChatMessage {
    this.#assertReady();
    const randomId = this.#chat.sendMessage({ message: text });
    const entry = this.#record({ id: randomId.toString(), direction: 'out', text, date: this.#chats.now(), status: 'sending' });
    this.#pump();
    return entry;
  }

  /**
   * Encrypts a file with a one-time key (AES-256-IGE), uploads its parts, then sends the message carrying the key.
   * Resolves with the message once the parts are stored and the message is sent.
   * @throws MtcallClientError `chat-closed` / `chat-not-ready`, `chat-refused` when the server refuses a part
   */
  async sendFile(data: Uint8Array, options: { name: string; mimeType?: string; caption?: string }): Promise<ChatMessage> {
    this.#assertReady();
    const fileKey = generateFileKey();
    const parts = encryptFile(data, fileKey, MAX_CHAT_FILE_PART_BYTES);
    const fileId = bytesToHex(randomBytes(8));
    const keyFingerprint = fileKeyFingerprint(fileKey);
    const mimeType = options.mimeType ?? 'application/octet-stream';
    try {
      for (let next = 0; next < parts.length; ) {
        const batch = parts.slice(next, next + UPLOAD_WINDOW).map((part, i) => this.#chats.uploadPart(this.#chatId!, fileId, next + i, part));
        next += batch.length;
        await Promise.all(batch);
      }
      this.#assertReady();
      const media: DecryptedMessageMediaDocument = {
        _: 'decryptedMessageMediaDocument', thumb: new Uint8Array(0), thumbW: 0, thumbH: 0, mimeType, size: BigInt(data.length),
        key: fileKey.key, iv: fileKey.iv, attributes: [{ _: 'documentAttributeFilename', fileName: options.name }], caption: options.caption ?? '',
      };
      const id = this.#chat.sendMessage({ message: options.caption ?? '', media }).toString();
      this.#outgoingFiles.set(id, { fileId, parts: parts.length, keyFingerprint });
      const entry = this.#record({ id, direction: 'out', text: options.caption ?? '', date: this.#chats.now(), status: 'sending', file: { name: options.name, mimeType, size: data.length, status: 'sent' } });
      this.#pump();
      this.emit('file', { ...entry });
      return entry;
    } finally {
      wipe(fileKey.key);
      wipe(fileKey.iv);
    }
  }

  /**
   * Downloads and decrypts the file of an incoming message; byte-exact or a `file-corrupt` error.
   * @throws MtcallClientError `unknown-message`, `file-corrupt`, `chat-refused`
   */
  async downloadFile(messageId: string): Promise<Uint8Array> {
    const file = this.#files.get(messageId);
    const entry = this.#byId.get(messageId);
    if (!file || !entry?.file) throw new MtcallClientError('unknown-message', `no incoming file message ${messageId}`);
    if (file.data) return file.data.slice();
    const parts: Uint8Array[] = [];
    for (let next = 0; next < file.parts; ) {
      const batch = Array.from({ length: Math.min(UPLOAD_WINDOW, file.parts - next) }, (_, i) => this.#chats.downloadPart(this.#chatId!, file.fileId, next + i));
      next += batch.length;
      parts.push(...(await Promise.all(batch)));
    }
    const data = decryptFile(parts, { key: file.key, iv: file.iv }, entry.file.size);
    if (!data) {
      entry.file.status = 'failed';
      throw new MtcallClientError('file-corrupt', `file of message ${messageId} does not decrypt to its size`);
    }
    file.data = data;
    entry.file.status = 'downloaded';
    return data.slice();
  }

  /** Tells the other side every message of theirs has been read (decryptedMessageActionReadMessages). */
  markRead(): void {
    const unread = this.#messages.filter((m) => m.direction === 'in' && m.status === 'received');
    if (unread.length === 0 || this.#state !== 'established') return;
    for (const m of unread) m.status = 'read';
    this.#chat.sendAction({ _: 'decryptedMessageActionReadMessages', randomIds: unread.map((m) => BigInt(m.id)) });
    this.#pump();
  }

  /**
   * Sends a failed message again: the same encrypted packet (same seq number, same random_id), as the protocol's
   * resend rule requires; never re-encrypted. If the other side already received it (or asked for it with a Resend
   * meanwhile), the copy is dropped there as a duplicate. Returns the message, `sending` again.
   * @throws MtcallClientError `unknown-message` (not a failed message of ours), `chat-closed`
   */
  retry(messageId: string): ChatMessage {
    const entry = this.#byId.get(messageId);
    const frame = this.#failedFrames.get(messageId);
    if (!entry || entry.status !== 'failed' || !frame) throw new MtcallClientError('unknown-message', `no failed message ${messageId} to retry`);
    this.#assertReady();
    this.#failedFrames.delete(messageId);
    entry.status = 'sending';
    delete entry.failure;
    this.#send({ ...frame, requestId: this.#chats.track(this, messageId) });
    return { ...entry };
  }

  /** Replaces the key now (it is also replaced after 100 messages or a week). Returns whether a re-key started. */
  rekey(): boolean {
    this.#assertReady();
    const started = this.#chat.startRekey();
    this.#pump();
    return started;
  }

  /** Ends the chat on both sides (discardEncryption) and wipes its keys. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#chat.close();
    this.#pump();
  }

  // ---- driven by SecretChats ----

  /** @internal Sends what the protocol queued (an originator's request). */
  start(): void {
    this.#pump();
  }

  /** @internal The server refused one of this chat's requests. */
  failed(error: MtcallClientError): void {
    this.emit('error', error);
  }

  /** @internal The server refused to create the chat: it never existed. */
  refused(code: string): void {
    this.#closeReason ??= code;
    this.#setState('closed');
    this.#chats.forget(this);
  }

  /** @internal The server named the chat. */
  created(chatId: string): void {
    this.#chatId = chatId;
    for (const message of this.#early.splice(0)) this.#chats.transmit({ ...message, chatId } as ClientMessage);
  }

  /** @internal An update of this chat from the device's queue. */
  update(update: ChatUpdate): void {
    switch (update.kind) {
      case 'accepted':
        if (this.#chat.state === 'requested') this.#chat.handleAccepted({ gB: base64ToBytes(update.gB)!, keyFingerprint: BigInt(update.keyFingerprint) });
        break;
      case 'discarded':
        if (update.reason === 'accepted-elsewhere') this.#closeReason = 'accepted-elsewhere';
        this.#chat.handleDiscarded();
        break;
      case 'message':
        if (update.file) this.#announced.set(update.file.keyFingerprint, { fileId: update.file.fileId, parts: update.file.parts });
        this.#chat.receive(base64ToBytes(update.data)!);
        break;
      case 'requested':
        break;
    }
    this.#pump();
  }

  /** @internal The server refused one of our messages (`frame`: the chatSend it refused). */
  sendRefused(randomId: string, frame: ClientMessage & { type: 'chatSend' }, code: string): void {
    const entry = this.#byId.get(randomId);
    if (!entry || entry.status !== 'sending') return;
    entry.status = 'failed';
    entry.failure = (SERVER_ERROR_CODES as readonly string[]).includes(code) ? (code as ServerErrorCode) : 'refused';
    this.#failedFrames.set(randomId, frame);
    this.emit('failed', { ...entry });
  }

  /** @internal The server stored one of our messages (perhaps a failed one, sent again for a Resend). */
  sent(randomId: string): void {
    const entry = this.#byId.get(randomId);
    if (!entry || (entry.status !== 'sending' && entry.status !== 'failed')) return;
    this.#failedFrames.delete(randomId);
    delete entry.failure;
    entry.status = 'delivered';
    this.emit('delivered', { ...entry });
  }

  /** @internal Takes the protocol's outputs: packets to the server, events to the app. */
  #pump(): void {
    for (let output = this.#chat.poll(); output; output = this.#chat.poll()) this.#apply(output);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const at = this.#chat.nextTimeout();
    if (at !== undefined && this.#state !== 'closed') {
      this.#timer = setTimeout(() => {
        this.#chat.tick();
        this.#pump();
      }, Math.min(Math.max(0, at - this.#chats.now()), 2 ** 31 - 1));
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  #apply(output: SecretChatOutput): void {
    switch (output.type) {
      case 'request-encryption':
        return this.#chats.requestChat(this, output.gA);
      case 'accept-encryption':
        return this.#send({ type: 'chatAccept', chatId: this.#chatId!, gB: bytesToBase64(output.gB), keyFingerprint: output.keyFingerprint.toString() });
      case 'discard-encryption':
        return this.#send({ type: 'chatDiscard', chatId: this.#chatId ?? '', reason: output.reason });
      case 'send-encrypted': {
        const file = this.#outgoingFiles.get(output.randomId.toString());
        const requestId = this.#chats.track(this, output.randomId.toString());
        return this.#send({ type: 'chatSend', requestId, chatId: this.#chatId ?? '', data: bytesToBase64(output.packet), ...(file ? { file } : {}) });
      }
      case 'established':
        this.#setState('established');
        return this.emit('key', this.key!);
      case 'rekeyed':
        return this.emit('key', this.key!);
      case 'message':
        return this.#received(output.message);
      case 'action':
        if (output.action._ === 'decryptedMessageActionReadMessages') {
          const read: ChatMessage[] = [];
          for (const id of output.action.randomIds) {
            const entry = this.#byId.get(id.toString());
            if (entry?.direction === 'out' && entry.status !== 'read') {
              entry.status = 'read';
              read.push({ ...entry });
            }
          }
          if (read.length > 0) this.emit('read', read);
        }
        return;
      case 'update-required':
        return this.emit('error', new MtcallClientError('chat-update-required', `the other side uses layer ${output.remoteLayer}, newer than ours (${output.localLayer}): update the app`));
      case 'closed':
        if (this.#closeReason === undefined) this.#closeReason = output.reason;
        this.#setState('closed');
        this.#chats.forget(this);
        return;
      default:
        return; // gap, resend, dropped packets, layer: counted in stats
    }
  }

  #received(message: DecryptedMessage): void {
    const id = message.randomId.toString();
    if (this.#byId.has(id)) return;
    const media = message.media;
    const entry: ChatMessage = { id, direction: 'in', text: message.message, date: this.#chats.now(), status: 'received' };
    if (media && media._ !== 'decryptedMessageMediaEmpty') {
      const announced = this.#announced.get(fileKeyFingerprint({ key: media.key, iv: media.iv }));
      const name = media.attributes.find((a) => a._ === 'documentAttributeFilename');
      entry.file = { name: name?._ === 'documentAttributeFilename' ? name.fileName : 'file', mimeType: media.mimeType, size: Number(media.size), status: announced ? 'available' : 'failed' };
      if (announced) this.#files.set(id, { ...announced, key: media.key.slice(), iv: media.iv.slice() });
    }
    this.#record(entry);
    this.emit('message', { ...entry });
    if (entry.file) this.emit('file', { ...entry });
  }

  #record(entry: ChatMessage): ChatMessage {
    this.#messages.push(entry);
    this.#byId.set(entry.id, entry);
    return { ...entry };
  }

  #send(message: ClientMessage): void {
    if (this.#chatId === undefined && message.type !== 'chatRequest') this.#early.push(message);
    else this.#chats.transmit(message);
  }

  #setState(state: ChatState): void {
    if (this.#state === state) return;
    this.#state = state;
    if (state === 'closed') {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      for (const file of this.#files.values()) {
        wipe(file.key);
        wipe(file.iv);
      }
      this.#chat.destroy();
    }
    this.emit('state', state);
  }

  #assertReady(): void {
    if (this.#state === 'closed') throw new MtcallClientError('chat-closed', `the chat with ${this.peerId} is closed (${this.#closeReason ?? 'closed'})`);
    if (this.#state !== 'established' || this.#chatId === undefined) throw new MtcallClientError('chat-not-ready', `${this.peerId} has not accepted the chat yet`);
  }
}

/** Events of `SecretChats`. */
export interface SecretChatsEvents extends Record<string, unknown> {
  /** Another user opened a chat with this device (accepted automatically, as Telegram clients do). */
  chat: ChatSession;
}

/**
 * One device's secret chats: routes the server's chat updates to their `ChatSession`, acknowledges the device's
 * queue once an update is processed, and sends again what the server had not confirmed when the connection dropped.
 * `MtcallClient` has one; Node apps (the peer) can make their own over a `SignalingClient`.
 */
export class SecretChats extends Emitter<SecretChatsEvents> {
  readonly #signaling: SignalingClient;
  readonly #options: SecretChatsOptions;
  readonly #byChatId = new Map<string, ChatSession>();
  readonly #open = new Set<ChatSession>();
  /** Requests waiting for their reply, by request id (sent again after a reconnect). */
  readonly #unconfirmed = new Map<string, Unconfirmed>();
  /** Frames waiting for their turn under the server's rate (and, offline, the fire-and-forget ones). */
  readonly #pacer: Pacer<ClientMessage>;
  #paceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Part downloads waiting, by `fileId/part`. */
  readonly #downloads = new Map<string, { resolve: (bytes: Uint8Array) => void; reject: (error: Error) => void; message: ClientMessage }>();
  #ackQts = 0;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #seq = 0;

  constructor(signaling: SignalingClient, options: SecretChatsOptions = {}) {
    super();
    this.#signaling = signaling;
    this.#options = options;
    this.#pacer = new Pacer(options.pace ?? DEFAULT_CHAT_PACE, this.now());
    signaling.on('chat', (message) => this.#onServer(message));
    signaling.on('chatError', (error) => this.#onError(error));
    // A refused frame with no request id (an ack, a file part) still says the server's bucket is empty.
    signaling.on('error', (error) => {
      if (error.code === 'rate-limited') this.#pacer.refused(this.now());
    });
    signaling.on('reconnected', () => this.#flush());
  }

  /** @internal */
  now(): number {
    return (this.#options.now ?? Date.now)();
  }

  /** Open chats (requesting or established). */
  get sessions(): ChatSession[] {
    return [...this.#open];
  }

  /**
   * The open chat with `userId`, or a new one (its request goes out now; it is usable once `state` is
   * `established`).
   * @throws MtcallClientError `not-connected` before the DH config is known
   */
  chat(userId: string): ChatSession {
    const existing = [...this.#open].reverse().find((s) => s.peerId === userId);
    if (existing) return existing;
    const dh = this.#signaling.dhConfig;
    if (!dh) throw new MtcallClientError('not-connected', 'not connected (await connect() first)');
    const session = new ChatSession(this, userId, SecretChat.initiate({ dh: { p: dh.p, g: dh.g }, ...this.#chatOptions() }));
    this.#open.add(session);
    queueMicrotask(() => session.start()); // lets the app attach listeners first
    return session;
  }

  /** @internal */
  requestChat(session: ChatSession, gA: Uint8Array): void {
    const requestId = this.#requestId();
    const message: ClientMessage = { type: 'chatRequest', requestId, userId: session.peerId, gA: bytesToBase64(gA) };
    this.#unconfirmed.set(requestId, { message, session });
    this.#write(message);
  }

  /** @internal A request id for a chatSend of `randomId`, kept until chatSent. */
  track(session: ChatSession, randomId: string): string {
    const requestId = this.#requestId();
    this.#unconfirmed.set(requestId, { session, randomId }); // its message is set when the session transmits it
    return requestId;
  }

  /** @internal */
  transmit(message: ClientMessage): void {
    if (message.type === 'chatSend') {
      const entry = this.#unconfirmed.get(message.requestId);
      if (entry) entry.message = message;
    }
    this.#write(message);
  }

  /** @internal */
  uploadPart(chatId: string, fileId: string, part: number, data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      const key = `${fileId}/${part}`;
      const message: ClientMessage = { type: 'chatUploadPart', chatId, fileId, part, data: bytesToBase64(data) };
      this.#unconfirmed.set(`part:${key}`, { message, resolve: resolve as (v: unknown) => void, reject });
      this.#write(message);
    });
  }

  /** @internal */
  downloadPart(chatId: string, fileId: string, part: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const message: ClientMessage = { type: 'chatGetFilePart', chatId, fileId, part };
      this.#downloads.set(`${fileId}/${part}`, { resolve, reject, message });
      this.#write(message);
    });
  }

  /** @internal */
  forget(session: ChatSession): void {
    this.#open.delete(session);
  }

  #chatOptions() {
    return { ...(this.#options.now ? { now: this.#options.now } : {}), ...(this.#options.rekeyAfterMessages !== undefined ? { rekeyAfterMessages: this.#options.rekeyAfterMessages } : {}) };
  }

  #requestId(): string {
    return `${CHAT_REQUEST_PREFIX}${(++this.#seq).toString(36)}${bytesToHex(randomBytes(4))}`;
  }

  /** Queues a frame under the pace. Offline, requests with a reply are left out: `#flush` sends them from #unconfirmed. */
  #write(message: ClientMessage): void {
    if (!this.#signaling.online && confirmed(message)) return;
    this.#pacer.push(message);
    this.#drain();
  }

  /** Sends what the pace allows now, and wakes up for the rest (while online). */
  #drain(): void {
    if (this.#paceTimer !== undefined) clearTimeout(this.#paceTimer);
    this.#paceTimer = undefined;
    if (!this.#signaling.online) return;
    for (const message of this.#pacer.take(this.now())) this.#signaling.send(message);
    const at = this.#pacer.nextAt(this.now());
    if (at !== undefined) this.#paceTimer = setTimeout(() => this.#drain(), Math.max(0, at - this.now()));
  }

  /**
   * Connected again: the fire-and-forget frames still queued, then what the server did not confirm, go again (in
   * that order, paced; a chatSend stored twice is dropped by the receiver by its seq number).
   */
  #flush(): void {
    this.#pacer.retain((message) => !confirmed(message));
    for (const { message } of this.#unconfirmed.values()) if (message) this.#pacer.push(message);
    for (const { message } of this.#downloads.values()) this.#pacer.push(message);
    this.#drain();
  }

  #onServer(message: ChatServerMessage): void {
    switch (message.type) {
      case 'chatUpdate':
        this.#update(message.update);
        this.#ack(message.qts);
        return;
      case 'chatCreated': {
        const entry = this.#unconfirmed.get(message.requestId);
        if (!entry?.session) return;
        this.#unconfirmed.delete(message.requestId);
        this.#byChatId.set(message.chatId, entry.session);
        entry.session.created(message.chatId);
        return;
      }
      case 'chatSent': {
        const entry = this.#unconfirmed.get(message.requestId);
        if (!entry) return;
        this.#unconfirmed.delete(message.requestId);
        if (entry.randomId !== undefined) entry.session?.sent(entry.randomId);
        return;
      }
      case 'chatPartSaved': {
        const key = `part:${message.fileId}/${message.part}`;
        const entry = this.#unconfirmed.get(key);
        this.#unconfirmed.delete(key);
        entry?.resolve?.(undefined);
        return;
      }
      case 'chatFilePart': {
        const key = `${message.fileId}/${message.part}`;
        const waiting = this.#downloads.get(key);
        this.#downloads.delete(key);
        waiting?.resolve(base64ToBytes(message.data)!);
        return;
      }
    }
  }

  #update(update: ChatUpdate): void {
    let session = this.#byChatId.get(update.chatId);
    if (update.kind === 'requested') {
      if (session) return; // delivered again after a reconnect
      const dh = this.#signaling.dhConfig;
      if (!dh) return;
      const chat = SecretChat.accept({ dh: { p: dh.p, g: dh.g }, gA: base64ToBytes(update.gA)!, ...this.#chatOptions() });
      session = new ChatSession(this, update.fromUserId, chat, update.chatId);
      this.#byChatId.set(update.chatId, session);
      this.#open.add(session);
      if (session.state !== 'closed') this.emit('chat', session); // the app attaches its listeners, then the key is announced
      session.update(update);
      return;
    }
    session?.update(update);
  }

  /** Sends the pending acknowledgement now (before closing the connection: the server then keeps no copy). */
  flushAcks(): void {
    if (this.#ackTimer === undefined) return;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#signaling.online) this.#signaling.send({ type: 'chatAck', qts: this.#ackQts }); // ahead of the queue: the connection is closing
    else this.#write({ type: 'chatAck', qts: this.#ackQts });
  }

  /** Acknowledges the queue up to `qts`, once per burst of updates. */
  #ack(qts: number): void {
    this.#ackQts = Math.max(this.#ackQts, qts);
    if (this.#ackTimer !== undefined) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = undefined;
      this.#write({ type: 'chatAck', qts: this.#ackQts });
    }, 20);
  }

  #onError(error: { code: string; message: string; chatId?: string; requestId?: string }): void {
    if (error.code === 'rate-limited') {
      // The server did not look at the frame: slow down and send the same frame again, first.
      this.#pacer.refused(this.now());
      const refused = error.requestId !== undefined ? this.#unconfirmed.get(error.requestId)?.message : undefined;
      if (refused && this.#signaling.online) this.#pacer.again(refused);
      return this.#drain();
    }
    const entry = error.requestId !== undefined ? this.#unconfirmed.get(error.requestId) : undefined;
    if (entry && error.requestId !== undefined) this.#unconfirmed.delete(error.requestId);
    // Part uploads and downloads are keyed by file and part (their errors name the chat only): fail them all.
    const failure = new MtcallClientError('chat-refused', `${error.code}: ${error.message}`);
    if (error.code === 'unknown-file' || error.code === 'file-too-large' || error.code === 'file-quota') {
      for (const [key, value] of this.#unconfirmed) if (key.startsWith('part:')) { this.#unconfirmed.delete(key); value.reject?.(failure); }
      for (const [key, value] of this.#downloads) { this.#downloads.delete(key); value.reject(failure); }
    }
    if (error.code === 'chat-wrong-state' && entry?.message?.type !== 'chatSend') return; // an accept sent twice across a reconnect
    if (error.code === 'bad-qts') return; // an ack sent twice across a reconnect
    const session = entry?.session ?? (error.chatId !== undefined ? this.#byChatId.get(error.chatId) : undefined);
    if (session && entry?.randomId !== undefined && entry.message?.type === 'chatSend') session.sendRefused(entry.randomId, entry.message, error.code);
    else session?.failed(failure);
    if (session && entry?.message?.type === 'chatRequest') return session.refused(error.code);
    if (session && error.code === 'unknown-chat') session.update({ kind: 'discarded', chatId: error.chatId ?? '', reason: 'unknown-chat' });
  }
}

/** Whether a frame gets a reply, so that `SecretChats` keeps it until then (and sends it again after a reconnect). */
function confirmed(message: ClientMessage): boolean {
  return message.type === 'chatRequest' || message.type === 'chatSend' || message.type === 'chatUploadPart' || message.type === 'chatGetFilePart';
}
