/**
 * Secret chats on the server, sans-IO (issue 16; Telegram's secret chats: requestEncryption, acceptEncryption,
 * discardEncryption, sendEncrypted/sendEncryptedFile, upload.saveFilePart, messages.receivedQueue).
 *
 * The server is a mailbox: each device has a queue of updates numbered by its own `qts`, delivered when the device
 * is online (at once) or when it comes back (after its `welcome`), and deleted when the device acknowledges them
 * (`chatAck`) or after `retentionMs` (7 days). Encrypted files are kept by id, in parts, for the same time. It relays
 * g_a, g_b, the key fingerprint and ciphertext: it never holds a key, and cannot read a message or a file.
 *
 * A chat has two ends: the originator's device and, once it accepted, one device of the other user. The request
 * goes to every device of that user the server has seen; the first to accept takes the chat and the others are told
 * `discarded` (`accepted-elsewhere`).
 *
 * Every check runs before anything changes: a refused message gets a named error and leaves the store as it was.
 */

import { base64ToBytes, bytesToBase64, bytesToHex, randomBytes } from '@mtcall/crypto';
import type { ChatUpdate, ClientMessage, ServerErrorCode } from './protocol.js';
import type { Connection, ConnectionTable } from './server-connections.js';
import type { ConnectionId, Outbox } from './server-output.js';

/** Limits of secret chats on one server. */
export interface ChatLimits {
  /** How long queued updates and files are kept (ms, default 7 days). */
  retentionMs: number;
  /** Updates waiting for one device (default 10 000); more: the sender gets `queue-full`. */
  maxQueuePerDevice: number;
  /** Chats one user may be part of (default 1000). */
  maxChatsPerUser: number;
  /** Parts of one file (default 3200: 100 MB in 32 KB parts). */
  maxFileParts: number;
  /** Bytes of files one user may store at a time (default 256 MB). */
  maxFileBytesPerUser: number;
  /** Files one user may store at a time (default 256). */
  maxFilesPerUser: number;
}

/** Seven days in ms: how long the server keeps what a device has not acknowledged. */
export const CHAT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

export const DEFAULT_CHAT_LIMITS: ChatLimits = {
  retentionMs: CHAT_RETENTION_MS,
  maxQueuePerDevice: 10_000,
  maxChatsPerUser: 1000,
  maxFileParts: 3200,
  maxFileBytesPerUser: 256 * 1024 * 1024,
  maxFilesPerUser: 256,
};

/** A device, as the store names it: `userId` and `deviceId` (ids cannot contain `/`). */
export type DeviceAddress = `${string}/${string}`;

/** A chat as the server knows it: its two ends, never a key. */
export interface ChatRecord {
  chatId: string;
  adminUserId: string;
  adminDevice: DeviceAddress;
  participantUserId: string;
  /** The device that accepted; absent while the request is pending. */
  participantDevice?: DeviceAddress;
  /** The originator's `requestId`: the same request sent again (after a reconnect) gets the same chat. */
  requestId: string;
  createdAt: number;
}

/** One queued update of a device. */
export interface QueuedUpdate {
  qts: number;
  at: number;
  update: ChatUpdate;
}

/** An encrypted file: its parts (ciphertext) by number. */
export interface StoredFile {
  fileId: string;
  chatId: string;
  owner: DeviceAddress;
  ownerUserId: string;
  parts: Map<number, Uint8Array>;
  bytes: number;
  createdAt: number;
}

/**
 * Where the server keeps chats, queues and files. `MemoryChatStore` is the default; a shared store (Redis) implements
 * the same interface. Methods are called only after every check passed.
 */
export interface ChatStore {
  /** Remembers that a user has this device (requests are queued for every device seen). */
  rememberDevice(userId: string, device: DeviceAddress): void;
  devicesOf(userId: string): DeviceAddress[];
  getChat(chatId: string): ChatRecord | undefined;
  /** The chat a device's request created, if any. */
  findRequest(device: DeviceAddress, requestId: string): ChatRecord | undefined;
  putChat(chat: ChatRecord): void;
  deleteChat(chatId: string): void;
  chatCount(userId: string): number;
  /** Appends an update to a device's queue and returns its qts. */
  enqueue(device: DeviceAddress, update: ChatUpdate, now: number): number;
  queueLength(device: DeviceAddress): number;
  /** The last qts given to a device (0: none). */
  lastQts(device: DeviceAddress): number;
  pending(device: DeviceAddress): QueuedUpdate[];
  /** Deletes a device's updates up to `qts`; returns how many. */
  ack(device: DeviceAddress, qts: number): number;
  getFile(fileId: string): StoredFile | undefined;
  putFile(file: StoredFile): void;
  deleteFile(fileId: string): void;
  /** Files and their bytes a user stores now. */
  fileUsage(userId: string): { files: number; bytes: number };
  /** Deletes updates and files created before `before`; returns how many of each. */
  expire(before: number): { updates: number; files: number };
  /** The creation time of the oldest update or file (undefined: none). */
  oldest(): number | undefined;
  /** Every stored byte array (queued payloads decoded, file parts): for tests that look for plaintext. */
  dump(): Uint8Array[];
  /**
   * False when this instance may no longer change the store at `now` (a Redis store whose writer lease lapsed or is
   * about to): chat frames are then refused with `chats-unavailable` and nothing is delivered from it. Absent: always.
   */
  writable?(now: number): boolean;
}

/** The in-memory store (the server's default): lost when the process ends. */
export class MemoryChatStore implements ChatStore {
  readonly #devices = new Map<string, Set<DeviceAddress>>();
  readonly #chats = new Map<string, ChatRecord>();
  readonly #queues = new Map<DeviceAddress, { last: number; items: QueuedUpdate[] }>();
  readonly #files = new Map<string, StoredFile>();

  rememberDevice(userId: string, device: DeviceAddress): void {
    let set = this.#devices.get(userId);
    if (!set) this.#devices.set(userId, (set = new Set()));
    set.add(device);
  }

  devicesOf(userId: string): DeviceAddress[] {
    return [...(this.#devices.get(userId) ?? [])];
  }

  getChat(chatId: string): ChatRecord | undefined {
    return this.#chats.get(chatId);
  }

  findRequest(device: DeviceAddress, requestId: string): ChatRecord | undefined {
    for (const chat of this.#chats.values()) if (chat.adminDevice === device && chat.requestId === requestId) return chat;
    return undefined;
  }

  putChat(chat: ChatRecord): void {
    this.#chats.set(chat.chatId, chat);
  }

  deleteChat(chatId: string): void {
    this.#chats.delete(chatId);
    for (const [id, file] of this.#files) if (file.chatId === chatId) this.#files.delete(id);
  }

  chatCount(userId: string): number {
    let n = 0;
    for (const chat of this.#chats.values()) if (chat.adminUserId === userId || chat.participantUserId === userId) n++;
    return n;
  }

  enqueue(device: DeviceAddress, update: ChatUpdate, now: number): number {
    let queue = this.#queues.get(device);
    if (!queue) this.#queues.set(device, (queue = { last: 0, items: [] }));
    queue.items.push({ qts: ++queue.last, at: now, update });
    return queue.last;
  }

  queueLength(device: DeviceAddress): number {
    return this.#queues.get(device)?.items.length ?? 0;
  }

  lastQts(device: DeviceAddress): number {
    return this.#queues.get(device)?.last ?? 0;
  }

  pending(device: DeviceAddress): QueuedUpdate[] {
    return [...(this.#queues.get(device)?.items ?? [])];
  }

  /** Devices that have a queue (even an empty one: their last qts is kept). */
  queuedDevices(): DeviceAddress[] {
    return [...this.#queues.keys()];
  }

  /** Replaces a device's queue as loaded from elsewhere (a persistent store): its last qts and items, oldest first. */
  restoreQueue(device: DeviceAddress, last: number, items: readonly QueuedUpdate[]): void {
    this.#queues.set(device, { last: Math.max(last, items.at(-1)?.qts ?? 0), items: [...items].sort((a, b) => a.qts - b.qts) });
  }

  /** Ids of the stored files. */
  fileIds(): string[] {
    return [...this.#files.keys()];
  }

  ack(device: DeviceAddress, qts: number): number {
    const queue = this.#queues.get(device);
    if (!queue) return 0;
    const before = queue.items.length;
    queue.items = queue.items.filter((item) => item.qts > qts);
    return before - queue.items.length;
  }

  getFile(fileId: string): StoredFile | undefined {
    return this.#files.get(fileId);
  }

  putFile(file: StoredFile): void {
    this.#files.set(file.fileId, file);
  }

  deleteFile(fileId: string): void {
    this.#files.delete(fileId);
  }

  fileUsage(userId: string): { files: number; bytes: number } {
    let files = 0;
    let bytes = 0;
    for (const file of this.#files.values()) {
      if (file.ownerUserId !== userId) continue;
      files++;
      bytes += file.bytes;
    }
    return { files, bytes };
  }

  expire(before: number): { updates: number; files: number } {
    let updates = 0;
    let files = 0;
    for (const queue of this.#queues.values()) {
      const kept = queue.items.filter((item) => item.at >= before);
      updates += queue.items.length - kept.length;
      queue.items = kept;
    }
    for (const [id, file] of this.#files) {
      if (file.createdAt < before) {
        this.#files.delete(id);
        files++;
      }
    }
    return { updates, files };
  }

  oldest(): number | undefined {
    let oldest: number | undefined;
    for (const queue of this.#queues.values()) {
      const first = queue.items[0];
      if (first && (oldest === undefined || first.at < oldest)) oldest = first.at;
    }
    for (const file of this.#files.values()) if (oldest === undefined || file.createdAt < oldest) oldest = file.createdAt;
    return oldest;
  }

  dump(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const queue of this.#queues.values()) {
      for (const { update } of queue.items) {
        const b64 = update.kind === 'message' ? update.data : update.kind === 'requested' ? update.gA : update.kind === 'accepted' ? update.gB : undefined;
        const bytes = b64 === undefined ? null : base64ToBytes(b64);
        if (bytes) out.push(bytes);
      }
    }
    for (const file of this.#files.values()) out.push(...file.parts.values());
    return out;
  }
}

/** Counters of the chat router. */
export interface ChatStats {
  chatsCreated: number;
  messagesQueued: number;
  updatesDelivered: number;
  updatesAcked: number;
  updatesExpired: number;
  filesExpired: number;
  fileParts: number;
}

type ChatClientMessage = Extract<ClientMessage, { type: 'chatRequest' | 'chatAccept' | 'chatDiscard' | 'chatSend' | 'chatUploadPart' | 'chatGetFilePart' | 'chatAck' }>;

/** The types of `ChatClientMessage`, written once (the core dispatches these here). */
export const CHAT_CLIENT_MESSAGE_TYPES = ['chatRequest', 'chatAccept', 'chatDiscard', 'chatSend', 'chatUploadPart', 'chatGetFilePart', 'chatAck'] as const satisfies readonly ChatClientMessage['type'][];

/** A refusal: nothing changed. */
class Refused {
  constructor(
    readonly code: ServerErrorCode,
    readonly message: string,
  ) {}
}

/** Routes secret-chat messages between devices through their queues. */
export class ChatRouter {
  readonly #connections: ConnectionTable;
  #store: ChatStore;
  readonly #limits: ChatLimits;
  readonly stats: ChatStats = { chatsCreated: 0, messagesQueued: 0, updatesDelivered: 0, updatesAcked: 0, updatesExpired: 0, filesExpired: 0, fileParts: 0 };

  constructor(connections: ConnectionTable, store: ChatStore = new MemoryChatStore(), limits: Partial<ChatLimits> = {}) {
    this.#connections = connections;
    this.#store = store;
    this.#limits = { ...DEFAULT_CHAT_LIMITS, ...limits };
  }

  /** The store (for stats and tests). */
  get store(): ChatStore {
    return this.#store;
  }

  /** Replaces the store (an elected chat instance taking over the Redis store); queues are delivered again by the caller. */
  useStore(store: ChatStore): void {
    this.#store = store;
  }

  /** When the oldest update or file expires (undefined: nothing stored). */
  nextExpiry(): number | undefined {
    const oldest = this.#store.oldest();
    return oldest === undefined ? undefined : oldest + this.#limits.retentionMs;
  }

  /** Deletes what is older than the retention time. */
  expire(now: number): void {
    if (this.#store.writable?.(now) === false) return;
    const { updates, files } = this.#store.expire(now - this.#limits.retentionMs);
    this.stats.updatesExpired += updates;
    this.stats.filesExpired += files;
  }

  /** A device was admitted: remember it and deliver its queue, oldest first. */
  deviceOnline(connection: Connection, now: number, out: Outbox): void {
    const device = address(connection);
    if (!device || this.#store.writable?.(now) === false) return;
    this.expire(now);
    this.#store.rememberDevice(connection.userId!, device);
    for (const item of this.#store.pending(device)) {
      this.stats.updatesDelivered++;
      out.send(connection.id, { type: 'chatUpdate', qts: item.qts, update: item.update });
    }
  }

  handle(connection: Connection, message: ChatClientMessage, now: number, out: Outbox): void {
    const device = address(connection)!;
    const ids: { requestId?: string; chatId?: string } = {};
    if ('requestId' in message) ids.requestId = message.requestId;
    if ('chatId' in message) ids.chatId = message.chatId;
    if (this.#store.writable?.(now) === false) {
      out.error(connection.id, 'chats-unavailable', 'this instance no longer keeps the secret chats (its writer lease lapsed): nothing was stored, send again later', ids);
      return;
    }
    const result = this.#run(connection, device, message, now, out);
    if (result instanceof Refused) out.error(connection.id, result.code, result.message, ids);
  }

  #run(connection: Connection, device: DeviceAddress, message: ChatClientMessage, now: number, out: Outbox): Refused | void {
    const userId = connection.userId!;
    switch (message.type) {
      case 'chatRequest': {
        if (message.userId === userId) return new Refused('self-chat', 'a user cannot open a secret chat with themselves');
        const again = this.#store.findRequest(device, message.requestId);
        if (again) {
          // Sent again after a reconnect (the reply was lost): the same chat, queued once.
          if (again.participantUserId !== message.userId) return new Refused('invalid-message', `request ${message.requestId} already opened a chat with another user`);
          return out.send(connection.id, { type: 'chatCreated', requestId: message.requestId, chatId: again.chatId });
        }
        const targets = this.#store.devicesOf(message.userId);
        if (targets.length === 0) return new Refused('unknown-user', `no device of ${message.userId} has ever connected`);
        if (this.#store.chatCount(userId) >= this.#limits.maxChatsPerUser) return new Refused('too-many-chats', `at most ${this.#limits.maxChatsPerUser} chats per user`);
        if (this.#store.chatCount(message.userId) >= this.#limits.maxChatsPerUser) return new Refused('too-many-chats', `${message.userId} has as many chats as the server allows`);
        if (targets.every((t) => this.#full(t))) return new Refused('queue-full', `every device of ${message.userId} has a full queue`);
        const chatId = bytesToHex(randomBytes(16));
        this.#store.putChat({ chatId, adminUserId: userId, adminDevice: device, participantUserId: message.userId, requestId: message.requestId, createdAt: now });
        this.stats.chatsCreated++;
        out.send(connection.id, { type: 'chatCreated', requestId: message.requestId, chatId });
        for (const target of targets) if (!this.#full(target)) this.#deliver(target, { kind: 'requested', chatId, fromUserId: userId, gA: message.gA }, now, out);
        return;
      }
      case 'chatAccept': {
        const chat = this.#store.getChat(message.chatId);
        if (!chat) return unknownChat(message.chatId);
        if (chat.participantUserId !== userId) return new Refused('not-in-chat', 'only the requested user can accept a chat');
        if (chat.participantDevice !== undefined) return new Refused('chat-wrong-state', chat.participantDevice === device ? 'already accepted' : 'accepted on another device');
        if (this.#full(chat.adminDevice)) return new Refused('queue-full', "the originator's queue is full");
        this.#store.putChat({ ...chat, participantDevice: device });
        this.#deliver(chat.adminDevice, { kind: 'accepted', chatId: chat.chatId, gB: message.gB, keyFingerprint: message.keyFingerprint }, now, out);
        for (const other of this.#store.devicesOf(userId)) {
          if (other !== device && !this.#full(other)) this.#deliver(other, { kind: 'discarded', chatId: chat.chatId, reason: 'accepted-elsewhere' }, now, out);
        }
        return;
      }
      case 'chatDiscard': {
        const chat = this.#store.getChat(message.chatId);
        if (!chat) return unknownChat(message.chatId);
        const peers = this.#ends(chat, device);
        if (!peers) return new Refused('not-in-chat', 'this device is not an end of the chat');
        this.#store.deleteChat(chat.chatId);
        for (const peer of peers) if (!this.#full(peer)) this.#deliver(peer, { kind: 'discarded', chatId: chat.chatId, reason: message.reason }, now, out);
        return;
      }
      case 'chatSend': {
        const chat = this.#store.getChat(message.chatId);
        if (!chat) return unknownChat(message.chatId);
        const peer = this.#peer(chat, device);
        if (peer instanceof Refused) return peer;
        let file: { fileId: string; parts: number; size: number; keyFingerprint: number } | undefined;
        if (message.file) {
          const stored = this.#store.getFile(message.file.fileId);
          const complete = stored && stored.chatId === chat.chatId && stored.owner === device && stored.parts.size === message.file.parts && [...stored.parts.keys()].every((p) => p < message.file!.parts);
          if (!complete) return new Refused('unknown-file', `file ${message.file.fileId} is not a complete upload of this device in this chat`);
          file = { fileId: stored.fileId, parts: stored.parts.size, size: stored.bytes, keyFingerprint: message.file.keyFingerprint };
        }
        if (this.#full(peer)) return new Refused('queue-full', "the other device's queue is full");
        this.#deliver(peer, { kind: 'message', chatId: chat.chatId, data: message.data, ...(file ? { file } : {}) }, now, out);
        this.stats.messagesQueued++;
        out.send(connection.id, { type: 'chatSent', requestId: message.requestId, chatId: chat.chatId, date: now });
        return;
      }
      case 'chatUploadPart': {
        const chat = this.#store.getChat(message.chatId);
        if (!chat) return unknownChat(message.chatId);
        const peer = this.#peer(chat, device);
        if (peer instanceof Refused) return peer;
        if (message.part >= this.#limits.maxFileParts) return new Refused('file-too-large', `a file has at most ${this.#limits.maxFileParts} parts`);
        const bytes = base64ToBytes(message.data)!;
        if (bytes.length === 0 || bytes.length % 16 !== 0) return new Refused('file-too-large', 'a part is a non-empty multiple of 16 bytes (AES blocks)');
        const existing = this.#store.getFile(message.fileId);
        if (existing && (existing.owner !== device || existing.chatId !== chat.chatId)) return new Refused('unknown-file', `file ${message.fileId} belongs to another upload`);
        const usage = this.#store.fileUsage(userId);
        const growth = bytes.length - (existing?.parts.get(message.part)?.length ?? 0);
        if (!existing && usage.files >= this.#limits.maxFilesPerUser) return new Refused('file-quota', `at most ${this.#limits.maxFilesPerUser} files per user`);
        if (usage.bytes + growth > this.#limits.maxFileBytesPerUser) return new Refused('file-quota', `at most ${this.#limits.maxFileBytesPerUser} bytes of files per user`);
        const file = existing ?? { fileId: message.fileId, chatId: chat.chatId, owner: device, ownerUserId: userId, parts: new Map(), bytes: 0, createdAt: now };
        file.parts.set(message.part, bytes);
        file.bytes += growth;
        this.#store.putFile(file);
        this.stats.fileParts++;
        out.send(connection.id, { type: 'chatPartSaved', chatId: chat.chatId, fileId: message.fileId, part: message.part });
        return;
      }
      case 'chatGetFilePart': {
        const chat = this.#store.getChat(message.chatId);
        if (!chat) return unknownChat(message.chatId);
        const peer = this.#peer(chat, device);
        if (peer instanceof Refused) return peer;
        const file = this.#store.getFile(message.fileId);
        const part = file?.chatId === chat.chatId ? file.parts.get(message.part) : undefined;
        if (!part) return new Refused('unknown-file', `no part ${message.part} of file ${message.fileId} in this chat`);
        out.send(connection.id, { type: 'chatFilePart', chatId: chat.chatId, fileId: message.fileId, part: message.part, data: bytesToBase64(part) });
        return;
      }
      case 'chatAck': {
        if (message.qts > this.#store.lastQts(device)) return new Refused('bad-qts', `qts ${message.qts} was never sent to this device`);
        this.stats.updatesAcked += this.#store.ack(device, message.qts);
        return;
      }
    }
  }

  #full(device: DeviceAddress): boolean {
    return this.#store.queueLength(device) >= this.#limits.maxQueuePerDevice;
  }

  /** The other end of an accepted chat, as seen from `device`. */
  #peer(chat: ChatRecord, device: DeviceAddress): DeviceAddress | Refused {
    if (device !== chat.adminDevice && device !== chat.participantDevice) return new Refused('not-in-chat', 'this device is not an end of the chat');
    if (chat.participantDevice === undefined) return new Refused('chat-wrong-state', 'the chat has not been accepted yet');
    return device === chat.adminDevice ? chat.participantDevice : chat.adminDevice;
  }

  /** Who is told when `device` discards: the other end, or every device a pending request went to. */
  #ends(chat: ChatRecord, device: DeviceAddress): DeviceAddress[] | undefined {
    if (device === chat.adminDevice) return chat.participantDevice !== undefined ? [chat.participantDevice] : this.#store.devicesOf(chat.participantUserId);
    if (device === chat.participantDevice) return [chat.adminDevice];
    // A device of the requested user may decline a request nobody accepted yet.
    if (chat.participantDevice === undefined && this.#store.devicesOf(chat.participantUserId).includes(device)) return [chat.adminDevice, ...this.#store.devicesOf(chat.participantUserId).filter((d) => d !== device)];
    return undefined;
  }

  /** Queues an update for a device and sends it at once if the device is online. */
  #deliver(device: DeviceAddress, update: ChatUpdate, now: number, out: Outbox): void {
    const qts = this.#store.enqueue(device, update, now);
    const connection = this.#online(device);
    if (connection !== undefined) {
      this.stats.updatesDelivered++;
      out.send(connection, { type: 'chatUpdate', qts, update });
    }
  }

  #online(device: DeviceAddress): ConnectionId | undefined {
    const [userId, deviceId] = device.split('/') as [string, string];
    return this.#connections.devices(userId).find((id) => this.#connections.get(id)?.deviceId === deviceId);
  }
}

function address(connection: Connection): DeviceAddress | undefined {
  return connection.userId !== undefined && connection.deviceId !== undefined ? `${connection.userId}/${connection.deviceId}` : undefined;
}

function unknownChat(chatId: string): Refused {
  return new Refused('unknown-chat', `no secret chat ${chatId.slice(0, 8)}…`);
}

/**
 * The store of a cluster instance that does not keep the secret chats (another instance holds the writer lease, or
 * nobody does): its core refuses every chat frame that reaches it with `chats-unavailable` and delivers nothing —
 * chat frames are forwarded to the writer before the core sees them, so this is the second line. Holds nothing.
 */
export class NotTheWriterChatStore extends MemoryChatStore {
  writable(): boolean {
    return false;
  }
}
