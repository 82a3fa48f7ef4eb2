/**
 * Who is online, as the signaling server tells it — sans-IO and scoped. A connection follows the users it names
 * (`watch`, capped) and, where the server offers it, the "everyone online" directory (capped in how many users it
 * lists). A change of one user's state costs one message per subscriber of that user, built once and shared by
 * every recipient (the adapter serialises it once), never a list of everyone: the cost of a join is
 * O(subscribers of that user), not O(users × subscribers).
 */

import type { PresenceEntry, ServerMessage } from './protocol.js';

/** How presence is scoped. */
export interface PresenceOptions {
  /** Most users one connection may watch (a `watch` naming more is refused whole). */
  maxWatch: number;
  /**
   * The "everyone online" directory (e.g. a demo's user list). Absent: not offered. It lists at most `maxUsers`
   * users — the first to come online while there was room; users beyond that are visible to their watchers only.
   */
  directory?: { maxUsers: number };
}

/** Default limits of presence. */
export const DEFAULT_PRESENCE_OPTIONS: PresenceOptions = { maxWatch: 500 };

/** One presence message and who gets it. */
export interface PresenceFanOut<C> {
  to: C[];
  message: Extract<ServerMessage, { type: 'presenceUpdate' }>;
}

/** Result of a subscription: the snapshot to send, or why it was refused (nothing changed then). */
export type PresenceSubscribeResult =
  | { ok: true; snapshot: Extract<ServerMessage, { type: 'presence' }> }
  | { ok: false; code: 'watch-limit' | 'presence-unavailable'; message: string };

interface UserState {
  devices: number;
  inCall: boolean;
}

/** Presence state and subscriptions; `C` identifies a connection. */
export class PresenceRegistry<C> {
  readonly #options: PresenceOptions;
  /** Users that are online or in a call. */
  readonly #users = new Map<string, UserState>();
  readonly #watchers = new Map<string, Set<C>>();
  readonly #watching = new Map<C, ReadonlySet<string>>();
  readonly #directorySubscribers = new Set<C>();
  /** Users listed in the directory, in the order they joined it (at most `directory.maxUsers`). */
  readonly #directoryMembers = new Set<string>();

  constructor(options: PresenceOptions = DEFAULT_PRESENCE_OPTIONS) {
    this.#options = options;
  }

  /** Whether the directory is offered. */
  get directoryEnabled(): boolean {
    return this.#options.directory !== undefined;
  }

  /** Counts, for stats and tests. */
  get counts(): { users: number; watchers: number; directorySubscribers: number; directoryMembers: number } {
    return { users: this.#users.size, watchers: this.#watching.size, directorySubscribers: this.#directorySubscribers.size, directoryMembers: this.#directoryMembers.size };
  }

  /** The current entry of a user (offline users have 0 devices). */
  entry(userId: string): PresenceEntry {
    const state = this.#users.get(userId);
    return { userId, devices: state?.devices ?? 0, inCall: state?.inCall ?? false };
  }

  /**
   * Replaces the users `connection` watches. Refused whole (nothing changes) above `maxWatch`. Duplicates count
   * once. The snapshot gives each watched user's current state.
   */
  watch(connection: C, users: readonly string[]): PresenceSubscribeResult {
    const wanted = new Set(users);
    if (wanted.size > this.#options.maxWatch) {
      return { ok: false, code: 'watch-limit', message: `a connection may watch at most ${this.#options.maxWatch} users (asked for ${wanted.size})` };
    }
    this.#unwatch(connection);
    if (wanted.size > 0) this.#watching.set(connection, wanted);
    for (const userId of wanted) {
      let set = this.#watchers.get(userId);
      if (!set) this.#watchers.set(userId, (set = new Set()));
      set.add(connection);
    }
    return { ok: true, snapshot: { type: 'presence', users: [...wanted].map((u) => this.entry(u)) } };
  }

  /** Subscribes `connection` to the directory; its snapshot lists the directory's members. */
  subscribeDirectory(connection: C): PresenceSubscribeResult {
    const directory = this.#options.directory;
    if (!directory) return { ok: false, code: 'presence-unavailable', message: 'this server offers no directory of everyone online; watch the users you need' };
    this.#directorySubscribers.add(connection);
    const users = [...this.#directoryMembers].map((u) => this.entry(u));
    const truncated = this.#users.size > this.#directoryMembers.size;
    return { ok: true, snapshot: truncated ? { type: 'presence', users, truncated } : { type: 'presence', users } };
  }

  /** Forgets every subscription of a connection (it closed). */
  remove(connection: C): void {
    this.#unwatch(connection);
    this.#directorySubscribers.delete(connection);
  }

  /**
   * Sets a user's state. Returns the one message to send and its recipients when the state changed (subscribers
   * of that user and, for users in the directory, its subscribers); `undefined` when nothing changed.
   */
  set(userId: string, devices: number, inCall: boolean): PresenceFanOut<C> | undefined {
    const before = this.#users.get(userId);
    if ((before?.devices ?? 0) === devices && (before?.inCall ?? false) === inCall) return undefined;
    if (devices === 0 && !inCall) this.#users.delete(userId);
    else this.#users.set(userId, { devices, inCall });

    const directory = this.#options.directory;
    let listed = this.#directoryMembers.has(userId);
    if (directory && !listed && devices > 0 && this.#directoryMembers.size < directory.maxUsers) {
      this.#directoryMembers.add(userId);
      listed = true;
    }
    const to: C[] = [...(this.#watchers.get(userId) ?? [])];
    if (listed) for (const c of this.#directorySubscribers) if (!this.#watching.get(c)?.has(userId)) to.push(c);
    if (devices === 0) this.#directoryMembers.delete(userId);
    if (to.length === 0) return undefined;
    return { to, message: { type: 'presenceUpdate', userId, devices, inCall } };
  }

  #unwatch(connection: C): void {
    const previous = this.#watching.get(connection);
    if (!previous) return;
    this.#watching.delete(connection);
    for (const userId of previous) {
      const set = this.#watchers.get(userId);
      set?.delete(connection);
      if (set?.size === 0) this.#watchers.delete(userId);
    }
  }
}
