/**
 * Secret chats' queues, chat records and encrypted files in Redis (issue 16: "on Redis when the server runs there").
 *
 * A `ChatStore` whose reads are served from memory and whose every change is written through to Redis, in order, on
 * one connection; at start the whole state is loaded back. So the `ChatRouter` stays sans-IO and synchronous, and an
 * instance that dies (SIGKILL) and starts again finds every update it had queued. The store has ONE writer: the
 * instance holding the lease key `chat:writer` (refreshed every third of `leaseMs`). Other instances of a cluster
 * forward their devices' chat frames to it (`ClusterNode`'s `chatInstance`), as they forward a call's frames to the
 * call's owner — so qts numbering, caps and "first accept wins" are decided in one place, never in two.
 *
 * **Fenced**: every change is a Lua script that first checks that the lease is still this instance's, so a writer
 * that lost its lease without knowing it (a process paused or cut off from Redis for longer than the lease, while
 * another instance took over) can never write beside the new one: Redis refuses its changes. And the store gives the
 * lease up by itself — `leaseLost` turns true and `onLeaseLost` is called once — when a renewal or a change finds
 * another holder, or when no renewal was acknowledged for `leaseMs` minus a margin (before Redis could expire the
 * key, counted from the renewal's sending). A store that lost its lease writes nothing more; its owner stops using it.
 *
 * Keys (under `prefix`, default `mtcall:`), holding only what the memory store holds (ciphertext, g_a/g_b, key
 * fingerprints, ids — never a key):
 * - `chat:dev:<user>` — set of the user's devices seen (requests go to every one);
 * - `chat:c:<chatId>` — the chat record (JSON: its two ends, the request id, the creation time);
 * - `chat:q:<user/device>` — sorted set of the device's queued updates, scored by qts (JSON `{qts, at, update}`);
 *   the key expires `retentionMs` after its newest update; `chat:qts:<user/device>` — the last qts given;
 * - `chat:f:<fileId>` — hash: `meta` (JSON) and `p:<n>` (part n, base64); expires `retentionMs` after its creation.
 *
 * Durability: a change is sent to Redis in the same event-loop turn that decides it, before the reply to the client
 * is written by the server; the window in which a SIGKILL loses an acknowledged change is the time node-redis holds a
 * command before writing it to its socket (it writes on the next tick). Redis itself should persist (AOF) for a
 * Redis restart to lose nothing.
 */

import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { base64ToBytes, bytesToBase64 } from '@mtcall/crypto';
import { CHAT_RETENTION_MS, MemoryChatStore, type ChatRecord, type DeviceAddress, type QueuedUpdate, type StoredFile } from './server-chats.js';
import type { ChatUpdate } from './protocol.js';
import type { ServerLogEntry } from './server-core.js';

/** Thrown by `RedisChatStore.open` when another instance holds the writer lease. */
export class ChatStoreLeaseError extends Error {
  override readonly name = 'ChatStoreLeaseError';
  constructor(
    /** The instance holding the lease (its id, from the lease's `<instanceId>/<nonce>`; null: it expired meanwhile). */
    readonly holder: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** Options of the Redis chat store. */
export interface RedisChatStoreOptions {
  /** redis://host:port */
  url: string;
  /** Key prefix (default `mtcall:`), shared with the cluster's keys. */
  prefix?: string;
  /** This instance's id: the writer lease's holder (the lease's value is `<instanceId>/<nonce>`, one nonce per store). */
  instanceId: string;
  /** How long queued updates and files are kept (ms, default 7 days): the keys' TTLs. */
  retentionMs?: number;
  /** How long the writer lease outlives its holder's last refresh (ms, default 10 000). */
  leaseMs?: number;
  log?: (entry: ServerLogEntry) => void;
  /**
   * A connected client to use instead of a new one (an instance waiting to be elected tries again on the same one).
   * It is the store's once the lease is taken; it stays open, its caller's, when `open` throws.
   */
  client?: Client;
  /** Called once when the store loses its lease (see the module doc); it writes nothing afterwards. */
  onLeaseLost?: (why: string) => void;
}

/** The instance id in a lease value (`<instanceId>/<nonce>`; instance ids never contain `/`). */
export function leaseHolder(value: string): string {
  return value.split('/')[0]!;
}

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0`;

/**
 * A fenced change: the commands (ARGV[2], a JSON array of string arrays) run, atomically, only while the lease
 * (KEYS[1]) is held by ARGV[1]; otherwise nothing runs and the reply is 0.
 */
/** Deletes the lease only while ARGV[1] holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const FENCED = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for _, command in ipairs(cjson.decode(ARGV[2])) do redis.call(unpack(command)) end
return 1`;

/** One Redis command as the fenced script runs it. */
type Command = string[];

/** A node-redis client. */
export type Client = ReturnType<typeof createClient>;

/** The Redis-backed chat store; see the module doc. Create it with `RedisChatStore.open`. */
export class RedisChatStore extends MemoryChatStore {
  readonly #client: Client;
  readonly #base: string;
  readonly #retentionMs: number;
  readonly #report: (error: unknown) => void;
  /** Parts of each file as last written (by identity): a new part or a replaced one is written, not the others. */
  readonly #written = new Map<string, Map<number, Uint8Array>>();
  #writes: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #lease: ReturnType<typeof setInterval> | undefined;
  /** Fires when no renewal was acknowledged in time: the lease is then given up before Redis could expire it. */
  #deadline: ReturnType<typeof setTimeout> | undefined;
  /** The lease's value while this store holds it: `<instanceId>/<nonce>`, never shared with another process. */
  readonly leaseToken: string;
  readonly #onLeaseLost: ((why: string) => void) | undefined;
  #leaseLost = false;
  /** When (Date.now()) the lease is given up unless a renewal is acknowledged before. */
  #deadlineAt = Infinity;

  private constructor(client: Client, base: string, retentionMs: number, report: (error: unknown) => void, leaseToken: string, onLeaseLost: ((why: string) => void) | undefined) {
    super();
    this.#client = client;
    this.#base = base;
    this.#retentionMs = retentionMs;
    this.#report = report;
    this.leaseToken = leaseToken;
    this.#onLeaseLost = onLeaseLost;
  }

  /**
   * Connects, takes the writer lease and loads every chat, queue and file. A lease held under this instance id by
   * another process (a previous one that crashed, or one frozen while this one replaced it) is waited out — at most
   * `leaseMs` and a second — never shared: each store's lease value has its own nonce.
   * @throws ChatStoreLeaseError when another instance (or another live process under this id) holds the lease; the
   * node-redis error when Redis is unreachable.
   */
  static async open(options: RedisChatStoreOptions): Promise<RedisChatStore> {
    const report = (error: unknown) => options.log?.({ event: 'redis-error', detail: `chat store: ${error instanceof Error ? error.message : String(error)}` });
    const client = options.client ?? createClient({ url: options.url, name: `mtcall-chats-${options.instanceId}` });
    if (!options.client) {
      client.on('error', report);
      await client.connect();
    }
    const base = `${options.prefix ?? 'mtcall:'}chat:`;
    const leaseMs = options.leaseMs ?? 10_000;
    const token = `${options.instanceId}/${randomBytes(8).toString('hex')}`;
    const renew = () => client.eval(RENEW, { keys: [`${base}writer`], arguments: [token, String(leaseMs)] });
    let firstSent = Date.now();
    let taken = (await renew()) === 1;
    const waitUntil = firstSent + leaseMs + 1000;
    let value: string | null = null;
    while (!taken) {
      value = await client.get(`${base}writer`);
      // Another instance's lease, or one under this id that keeps being renewed (a live twin): refused.
      if (value !== null && (leaseHolder(value) !== options.instanceId || Date.now() >= waitUntil)) break;
      if (value !== null) await new Promise((resolve) => setTimeout(resolve, 100));
      firstSent = Date.now();
      taken = (await renew()) === 1;
    }
    if (!taken) {
      const holder = value === null ? null : leaseHolder(value);
      if (!options.client) await client.close();
      throw new ChatStoreLeaseError(holder, `instance ${holder ?? '?'} writes the secret chats of this Redis (key ${base}writer); only one instance (one process) may`);
    }
    const store = new RedisChatStore(client, base, options.retentionMs ?? CHAT_RETENTION_MS, report, token, options.onLeaseLost);
    const every = Math.max(100, Math.floor(leaseMs / 3));
    // Give the lease up a margin before Redis could expire it: its TTL counts from when Redis ran the renewal, which
    // is after it was sent, so a deadline counted from the sending is always early.
    const margin = Math.max(50, Math.floor(leaseMs / 10));
    const renewed = (sentAt: number) => {
      clearTimeout(store.#deadline);
      store.#deadlineAt = sentAt + leaseMs - margin;
      const left = store.#deadlineAt - Date.now();
      store.#deadline = setTimeout(() => store.#lose(`no lease renewal acknowledged by Redis for ${leaseMs - margin} ms`), Math.max(0, left));
      store.#deadline.unref();
    };
    renewed(firstSent);
    store.#lease = setInterval(() => {
      if (!client.isOpen || store.#leaseLost) return;
      const sentAt = Date.now();
      renew()
        .then((ok) => {
          if (store.#leaseLost) return;
          if (ok === 1) renewed(sentAt);
          else store.#lose('the lease was taken by another instance');
        })
        .catch(report);
    }, every);
    store.#lease.unref();
    await store.#load(); // renewing meanwhile: a long load must not cost the lease
    return store;
  }

  /** True once the store gave its lease up (see the module doc): it writes nothing more. */
  get leaseLost(): boolean {
    return this.#leaseLost;
  }

  /**
   * Whether this instance may still change the chats at `now`: not once the lease is lost, nor past the deadline of
   * the last acknowledged renewal — checked on every frame, so a process that wakes from a pause longer than the
   * lease refuses the frames that waited for it even before its timers run (and gives the lease up then). False too
   * while Redis is unreachable (frames get `chats-unavailable` instead of a confirmation nothing backs).
   */
  writable(now: number): boolean {
    if (this.#leaseLost) return false;
    // Redis unreachable: a change could not be stored (nor fenced) now; refuse rather than confirm it from memory.
    if (!this.#client.isReady) return false;
    if (now < this.#deadlineAt) return true;
    queueMicrotask(() => this.#lose(`no lease renewal acknowledged by Redis before ${new Date(this.#deadlineAt).toISOString()}`));
    return false;
  }

  /** Gives the lease up, once: stops renewing, reports, tells the owner. */
  #lose(why: string): void {
    if (this.#leaseLost) return;
    this.#leaseLost = true;
    clearInterval(this.#lease);
    clearTimeout(this.#deadline);
    this.#report(new Error(`secret-chat writer lease lost: ${why}; this instance stops writing the chats`));
    this.#onLeaseLost?.(why);
  }

  /** The connection the writes go through (the cluster publishes on it too: a routed reply follows its writes). */
  get client(): Client {
    return this.#client;
  }

  /** Changes sent to Redis and not yet acknowledged by it. */
  get pendingWrites(): number {
    return this.#pending;
  }

  /**
   * Resolves once every change made so far is stored in Redis (or failed and was logged), or at once while Redis is
   * unreachable (node-redis then holds the commands until it reconnects): a Redis outage must not stall the replies.
   */
  async settled(): Promise<void> {
    const client = this.#client;
    while (this.#pending > 0 && client.isReady) {
      let off = () => {};
      const down = new Promise<void>((resolve) => {
        const done = () => resolve();
        client.once('reconnecting', done).once('end', done);
        off = () => void client.off('reconnecting', done).off('end', done);
      });
      await Promise.race([this.#writes, down]);
      off();
    }
  }

  /**
   * Stops refreshing the lease, releases it (only if still this instance's) and disconnects (after the pending
   * writes). `keepClient`: leave the connection open (its owner goes on using it, e.g. to be elected again).
   */
  async close(keepClient = false): Promise<void> {
    clearInterval(this.#lease);
    clearTimeout(this.#deadline);
    await this.settled();
    await this.#client.eval(RELEASE, { keys: [`${this.#base}writer`], arguments: [this.leaseToken] }).catch(this.#report);
    if (!keepClient) await this.#client.close().catch(this.#report);
  }

  override rememberDevice(userId: string, device: DeviceAddress): void {
    const known = this.devicesOf(userId).includes(device);
    super.rememberDevice(userId, device);
    if (!known) this.#write([['SADD', `${this.#base}dev:${userId}`, device]]);
  }

  override putChat(chat: ChatRecord): void {
    super.putChat(chat);
    this.#write([['SET', `${this.#base}c:${chat.chatId}`, JSON.stringify(chat)]]);
  }

  override deleteChat(chatId: string): void {
    const files = this.fileIds().filter((id) => this.getFile(id)?.chatId === chatId);
    super.deleteChat(chatId);
    for (const id of files) this.#written.delete(id);
    this.#write([['DEL', `${this.#base}c:${chatId}`, ...files.map((id) => `${this.#base}f:${id}`)]]);
  }

  override enqueue(device: DeviceAddress, update: ChatUpdate, now: number): number {
    const qts = super.enqueue(device, update, now);
    const queue = `${this.#base}q:${device}`;
    const item: QueuedUpdate = { qts, at: now, update };
    this.#write([
      ['ZADD', queue, String(qts), JSON.stringify(item)],
      ['SET', `${this.#base}qts:${device}`, String(qts)],
      ['PEXPIREAT', queue, String(now + this.#retentionMs)],
    ]);
    return qts;
  }

  override ack(device: DeviceAddress, qts: number): number {
    const n = super.ack(device, qts);
    if (n > 0) this.#write([['ZREMRANGEBYSCORE', `${this.#base}q:${device}`, '-inf', String(qts)]]);
    return n;
  }

  override putFile(file: StoredFile): void {
    super.putFile(file);
    let written = this.#written.get(file.fileId);
    if (!written) this.#written.set(file.fileId, (written = new Map()));
    const key = `${this.#base}f:${file.fileId}`;
    const commands: Command[] = [['HSET', key, 'meta', JSON.stringify({ fileId: file.fileId, chatId: file.chatId, owner: file.owner, ownerUserId: file.ownerUserId, bytes: file.bytes, createdAt: file.createdAt })]];
    for (const [n, bytes] of file.parts) {
      if (written.get(n) === bytes) continue;
      written.set(n, bytes);
      commands.push(['HSET', key, `p:${n}`, bytesToBase64(bytes)]);
    }
    commands.push(['PEXPIREAT', key, String(file.createdAt + this.#retentionMs)]);
    this.#write(commands);
  }

  override deleteFile(fileId: string): void {
    super.deleteFile(fileId);
    this.#written.delete(fileId);
    this.#write([['DEL', `${this.#base}f:${fileId}`]]);
  }

  override expire(before: number): { updates: number; files: number } {
    const oldest = this.oldest();
    if (oldest === undefined || oldest >= before) return { updates: 0, files: 0 }; // the common case: nothing to scan
    const updates = this.queuedDevices().flatMap((device) => this.pending(device).filter((item) => item.at < before).map((item) => ({ device, qts: item.qts })));
    const files = this.fileIds().filter((id) => this.getFile(id)!.createdAt < before);
    const result = super.expire(before);
    for (const { device, qts } of updates) this.#write([['ZREMRANGEBYSCORE', `${this.#base}q:${device}`, String(qts), String(qts)]]);
    for (const id of files) {
      this.#written.delete(id);
      this.#write([['DEL', `${this.#base}f:${id}`]]);
    }
    return result;
  }

  /**
   * Sends one change, fenced by the lease (atomically: all its commands or none); changes go out in the order they
   * were made (one connection). Failures are logged; a change Redis refuses for want of the lease loses the lease.
   */
  #write(commands: Command[]): void {
    if (this.#leaseLost) return this.#report(new Error('a chat change was not stored: this instance no longer holds the writer lease'));
    if (!this.#client.isOpen) return this.#report(new Error('redis closed: a chat change was not stored'));
    this.#pending++;
    const done = this.#client
      .eval(FENCED, { keys: [`${this.#base}writer`], arguments: [this.leaseToken, JSON.stringify(commands)] })
      .then((ok) => void (ok !== 1 && this.#lose('Redis refused a change: another instance holds the lease')))
      .catch(this.#report)
      .finally(() => this.#pending--);
    this.#writes = done;
  }

  /** Loads every key under the prefix (through `super`: loading writes nothing back), 500 commands at a time. */
  async #load(): Promise<void> {
    const c = this.#client;
    const keys: string[] = [];
    for await (const batch of c.scanIterator({ MATCH: `${this.#base}*`, COUNT: 1000 })) keys.push(...([batch].flat() as string[]));
    const lasts = new Map<DeviceAddress, number>();
    const queues = new Map<DeviceAddress, QueuedUpdate[]>();
    const load = async (key: string): Promise<void> => {
      const rest = key.slice(this.#base.length);
      const [kind] = rest.split(':', 1);
      const id = rest.slice(kind!.length + 1);
      if (kind === 'dev') for (const device of await c.sMembers(key)) super.rememberDevice(id, device as DeviceAddress);
      else if (kind === 'c') {
        const text = await c.get(key);
        if (text !== null) super.putChat(JSON.parse(text) as ChatRecord);
      } else if (kind === 'qts') lasts.set(id as DeviceAddress, Number(await c.get(key)));
      else if (kind === 'q') queues.set(id as DeviceAddress, (await c.zRange(key, 0, -1)).map((m) => JSON.parse(m) as QueuedUpdate));
      else if (kind === 'f') {
        const hash = await c.hGetAll(key);
        if (hash['meta'] === undefined) return;
        const meta = JSON.parse(hash['meta']) as Omit<StoredFile, 'parts'>;
        const parts = new Map<number, Uint8Array>();
        for (const [field, value] of Object.entries(hash)) if (field.startsWith('p:')) parts.set(Number(field.slice(2)), base64ToBytes(value)!);
        super.putFile({ ...meta, parts });
        this.#written.set(meta.fileId, new Map(parts));
      }
    };
    for (let i = 0; i < keys.length; i += 500) await Promise.all(keys.slice(i, i + 500).map(load));
    for (const device of new Set([...lasts.keys(), ...queues.keys()])) super.restoreQueue(device, lasts.get(device) ?? 0, queues.get(device) ?? []);
  }
}
