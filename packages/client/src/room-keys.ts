/**
 * A room's group key scheme for one member, sans-IO (no sockets, no timers, no WebRTC): the seed's WhatsApp group
 * calls on mtcall's primitives (docs/GROUP-CALLS.md).
 *
 * - The distributor (the member who joined first and is still there; handed over when it leaves) runs the calls'
 *   three-message DH with every member (`open-pair`: the session places the key exchange) and, once it has a pairwise
 *   key with everyone, picks a fresh 32-byte group secret for a new epoch and sends it with the epoch's transcript
 *   (members, their pairwise hashes) to each member over their sealed pairwise channel (x = 128/136).
 * - Every join and every leave starts a new epoch. A member installs the new epoch's keys for receiving and acks; once
 *   every member acked (or after `ackTimeoutMs`) the distributor tells everyone to switch, so no receiver is asked to
 *   open a frame of an epoch it does not hold; receivers drop the previous epoch `retireMs` (5 s) after the switch.
 * - The room code: after receiving the transcript, each member commits to a fresh nonce (SHA256), reveals it only once
 *   it holds every member's commitment, and shows four emoji of the transcript (its own entry as it computed it) and
 *   all nonces. Each member checks its own entry; a mismatch means its key exchange with the distributor was tampered
 *   with (`own-entry-mismatch`).
 *
 * Feed it membership, established pairs, pairwise messages, code messages and the clock; it returns what to send and
 * what happened, and says when it next needs the clock (`nextWakeAt`).
 */

import {
  GROUP_SECRET_LENGTH,
  ROOM_NONCE_LENGTH,
  base64ToBytes,
  bytesToBase64,
  constantTimeEqual,
  randomBytes,
  roomCode,
  roomCodeCommitment,
  roomPairHash,
  type RoomTranscript,
  type RoomTranscriptMember,
} from '@mtcall/crypto';

/** A member as the server lists it. */
export interface RoomMember {
  memberId: number;
  userId: string;
  deviceId: string;
}

/** A message on a pairwise channel (inside the sealed in-call signaling, as `{ type: 'app', data }`). */
export type RoomPairMessage =
  | { room: 'group-key'; roomId: string; epoch: number; secret: string; distributor: number; members: { memberId: number; userId: string; deviceId: string; pairHash: string }[] }
  | { room: 'ack'; roomId: string; epoch: number }
  | { room: 'switch'; roomId: string; epoch: number };

/** What the agent asks for or reports. */
export type RoomKeyOutput =
  /** Place a pairwise key exchange with this member (this member is the distributor). */
  | { kind: 'open-pair'; memberId: number }
  /** End the pairwise exchange with this member (it left, or we are no longer the distributor's counterpart). */
  | { kind: 'close-pair'; memberId: number }
  /** Seal `message` on the pairwise channel with this member. */
  | { kind: 'pair-send'; memberId: number; message: RoomPairMessage }
  /** Send a room code message through the server. */
  | { kind: 'code-send'; epoch: number; step: 'commit' | 'reveal'; value: Uint8Array }
  /** The media layer may open frames of this epoch (derive each sender's key from `secret`). */
  | { kind: 'install'; epoch: number; secret: Uint8Array }
  /** The media layer seals with this epoch from now on (and never again with an older one). */
  | { kind: 'switch'; epoch: number }
  /** The media layer drops every epoch older than `epoch` (their frames no longer open). */
  | { kind: 'retire'; before: number }
  /** A new epoch is known: who holds it. */
  | { kind: 'epoch'; epoch: number; members: RoomMember[] }
  /** The room code of an epoch, the same for everyone unless a key exchange was tampered with. */
  | { kind: 'code'; epoch: number; emoji: string[]; indices: number[] }
  /** Something is wrong with a key exchange or the transcript: tell the person. */
  | { kind: 'warning'; code: RoomKeyWarning; epoch?: number; detail: string };

/** Why the agent warns, written once. */
export const ROOM_KEY_WARNINGS = [
  'own-entry-mismatch', // our entry in the distributor's transcript is not what we computed: our key exchange was tampered with
  'not-in-transcript', // the distributor's transcript does not list us as we are
  'commitment-mismatch', // a revealed nonce does not match its commitment
  'bad-message', // a pairwise message that is not valid, or not from the distributor
] as const;

export type RoomKeyWarning = (typeof ROOM_KEY_WARNINGS)[number];

/** Timing of the scheme (ms). */
export interface RoomKeyTimings {
  /** How long the distributor waits for every member's ack before it switches anyway (default 3 000). */
  ackTimeoutMs: number;
  /** How long after a switch receivers keep the previous epoch (default 5 000, as the seed says). */
  retireMs: number;
}

export const DEFAULT_ROOM_KEY_TIMINGS: RoomKeyTimings = { ackTimeoutMs: 3_000, retireMs: 5_000 };

interface Pair {
  key: Uint8Array;
  gA: Uint8Array;
  hash: Uint8Array;
}

interface CodeRound {
  transcript?: RoomTranscript;
  nonce?: Uint8Array;
  commits: Map<number, Uint8Array>;
  reveals: Map<number, Uint8Array>;
  revealed: boolean;
  done: boolean;
}

interface PendingEpoch {
  epoch: number;
  members: Set<number>;
  acked: Set<number>;
  deadline: number;
}

export interface RoomKeyAgentOptions {
  roomId: string;
  self: RoomMember;
  timings?: Partial<RoomKeyTimings>;
  /** Randomness (tests pass a seeded one); default crypto-random. */
  random?: (length: number) => Uint8Array;
}

export class RoomKeyAgent {
  readonly roomId: string;
  readonly self: RoomMember;
  readonly #timings: RoomKeyTimings;
  readonly #random: (length: number) => Uint8Array;
  #members = new Map<number, RoomMember>();
  #distributor = 0;
  /** Pairwise keys: as distributor, with each member; as a member, with the distributor. */
  readonly #pairs = new Map<number, Pair>();
  readonly #opened = new Set<number>();
  /** Highest epoch installed (received or made). */
  #epoch = 0;
  /** Epoch we send with. */
  #sending = 0;
  #pending: PendingEpoch | undefined;
  /** Membership changed since the last epoch was made (distributor). */
  #stale = false;
  /** Epochs to drop, each `retireMs` after the switch that replaced them. */
  #retire: { at: number; before: number }[] = [];
  readonly #rounds = new Map<number, CodeRound>();
  #ended = false;

  constructor(options: RoomKeyAgentOptions) {
    this.roomId = options.roomId;
    this.self = options.self;
    this.#timings = { ...DEFAULT_ROOM_KEY_TIMINGS, ...options.timings };
    this.#random = options.random ?? randomBytes;
  }

  get distributor(): number {
    return this.#distributor;
  }
  get isDistributor(): boolean {
    return this.#distributor === this.self.memberId;
  }
  /** The newest epoch this member holds. */
  get epoch(): number {
    return this.#epoch;
  }
  /** The epoch this member seals with (0 before the first switch). */
  get sendingEpoch(): number {
    return this.#sending;
  }

  /** When `tick` is next needed, if ever. */
  nextWakeAt(): number | undefined {
    const times = [this.#pending?.deadline, this.#retire[0]?.at].filter((t): t is number => t !== undefined);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  /** The server's member list and distributor (roomJoined, roomMembers). */
  membership(members: readonly RoomMember[], distributor: number, now: number): RoomKeyOutput[] {
    if (this.#ended) return [];
    const out: RoomKeyOutput[] = [];
    const before = new Set(this.#members.keys());
    this.#members = new Map(members.map((m) => [m.memberId, { ...m }]));
    const changed = before.size !== this.#members.size || [...before].some((id) => !this.#members.has(id));
    const handover = distributor !== this.#distributor;
    this.#distributor = distributor;
    // Pairs with members who left, or with a distributor who is no longer one, end.
    for (const id of [...this.#pairs.keys(), ...this.#opened]) {
      const keep = this.#members.has(id) && (this.isDistributor || id === distributor);
      if (!keep && (this.#pairs.has(id) || this.#opened.has(id))) {
        this.#dropPair(id);
        out.push({ kind: 'close-pair', memberId: id });
      }
    }
    if (this.isDistributor) {
      if (changed || handover) this.#stale = true;
      for (const id of this.#members.keys()) {
        if (id === this.self.memberId || this.#pairs.has(id) || this.#opened.has(id)) continue;
        this.#opened.add(id);
        out.push({ kind: 'open-pair', memberId: id });
      }
      this.#maybeNewEpoch(now, out);
    }
    return out;
  }

  /** Whether a pairwise key exchange offered by `memberId` should be accepted (only the distributor's). */
  acceptsPairFrom(memberId: number): boolean {
    return !this.#ended && memberId === this.#distributor && memberId !== this.self.memberId;
  }

  /** A pairwise key exchange finished: its key and the distributor's g_a (the caller's). */
  pairEstablished(memberId: number, key: Uint8Array, gA: Uint8Array, now: number): RoomKeyOutput[] {
    if (this.#ended || !this.#members.has(memberId)) return [];
    this.#opened.delete(memberId);
    this.#pairs.set(memberId, { key: new Uint8Array(key), gA: new Uint8Array(gA), hash: roomPairHash(key, gA) });
    const out: RoomKeyOutput[] = [];
    if (this.isDistributor) this.#maybeNewEpoch(now, out);
    return out;
  }

  /** A pairwise exchange ended (the peer left, or it failed): as distributor, try again while the member is here. */
  pairEnded(memberId: number, now: number): RoomKeyOutput[] {
    if (this.#ended) return [];
    this.#dropPair(memberId);
    const out: RoomKeyOutput[] = [];
    if (this.isDistributor && this.#members.has(memberId)) {
      this.#opened.add(memberId);
      out.push({ kind: 'open-pair', memberId });
    }
    void now;
    return out;
  }

  /** A message from the pairwise channel with `memberId`. */
  pairMessage(memberId: number, data: unknown, now: number): RoomKeyOutput[] {
    if (this.#ended) return [];
    const message = parsePairMessage(data);
    const out: RoomKeyOutput[] = [];
    if (!message || message.roomId !== this.roomId || !this.#pairs.has(memberId)) {
      out.push({ kind: 'warning', code: 'bad-message', detail: `an invalid pairwise message from member ${memberId}` });
      return out;
    }
    switch (message.room) {
      case 'group-key':
        if (memberId !== this.#distributor || this.isDistributor) break;
        this.#receiveGroupKey(memberId, message, out);
        return out;
      case 'ack':
        if (!this.isDistributor) break;
        if (this.#pending && message.epoch === this.#pending.epoch) {
          this.#pending.acked.add(memberId);
          this.#maybeSwitch(now, out);
        }
        return out;
      case 'switch':
        if (memberId !== this.#distributor || this.isDistributor) break;
        if (message.epoch > this.#sending && message.epoch <= this.#epoch) this.#switchTo(message.epoch, now, out);
        return out;
    }
    out.push({ kind: 'warning', code: 'bad-message', detail: `a ${message.room} message member ${memberId} may not send` });
    return out;
  }

  /** A room code message relayed by the server. */
  codeMessage(from: number, epoch: number, step: 'commit' | 'reveal', value: Uint8Array): RoomKeyOutput[] {
    if (this.#ended || from === this.self.memberId || value.length !== 32) return [];
    // Rounds near the current epoch only (a joiner, at 0, takes any: the room may be far along); at most a few kept.
    if (this.#epoch > 0 && (epoch + 1 < this.#epoch || epoch > this.#epoch + 16)) return [];
    const round = this.#round(epoch);
    const out: RoomKeyOutput[] = [];
    if (step === 'commit') {
      if (!round.commits.has(from) && !round.revealed) round.commits.set(from, new Uint8Array(value));
    } else if (!round.reveals.has(from)) {
      const commit = round.commits.get(from);
      if (!commit) return out; // a reveal before its commitment is worthless: ignored
      if (!constantTimeEqual(roomCodeCommitment(this.roomId, epoch, from, value), commit)) {
        out.push({ kind: 'warning', code: 'commitment-mismatch', epoch, detail: `member ${from}'s nonce does not match its commitment` });
        return out;
      }
      round.reveals.set(from, new Uint8Array(value));
    }
    this.#advanceCode(epoch, out);
    return out;
  }

  /** Advances the clock: the distributor's ack deadline, the retirement of old epochs. */
  tick(now: number): RoomKeyOutput[] {
    if (this.#ended) return [];
    const out: RoomKeyOutput[] = [];
    if (this.#pending && now >= this.#pending.deadline) this.#switchAll(now, out);
    while (this.#retire.length > 0 && now >= this.#retire[0]!.at) out.push({ kind: 'retire', before: this.#retire.shift()!.before });
    return out;
  }

  /** Leaves: wipes the pairwise keys and every nonce. */
  end(): void {
    this.#ended = true;
    for (const id of [...this.#pairs.keys()]) this.#dropPair(id);
    for (const round of this.#rounds.values()) round.nonce?.fill(0);
    this.#rounds.clear();
    this.#pending = undefined;
    this.#retire = [];
  }

  // ---- distributor ---------------------------------------------------------------------------------------------

  /** A new epoch once membership changed and every member has a pairwise key. */
  #maybeNewEpoch(now: number, out: RoomKeyOutput[]): void {
    if (!this.isDistributor || !this.#stale) return;
    const others = [...this.#members.keys()].filter((id) => id !== this.self.memberId);
    if (others.some((id) => !this.#pairs.has(id))) return;
    this.#stale = false;
    const epoch = this.#epoch + 1;
    const secret = this.#random(GROUP_SECRET_LENGTH);
    const members: RoomTranscriptMember[] = [...this.#members.values()].map((m) => ({
      ...m,
      pairHash: m.memberId === this.self.memberId ? new Uint8Array(32) : this.#pairs.get(m.memberId)!.hash,
    }));
    const transcript: RoomTranscript = { roomId: this.roomId, epoch, distributor: this.self.memberId, members };
    const wire = members.map((m) => ({ memberId: m.memberId, userId: m.userId, deviceId: m.deviceId, pairHash: bytesToBase64(m.pairHash) }));
    for (const id of others) {
      out.push({ kind: 'pair-send', memberId: id, message: { room: 'group-key', roomId: this.roomId, epoch, secret: bytesToBase64(secret), distributor: this.self.memberId, members: wire } });
    }
    this.#epoch = epoch;
    out.push({ kind: 'install', epoch, secret });
    out.push({ kind: 'epoch', epoch, members: [...this.#members.values()] });
    this.#pending = { epoch, members: new Set(others), acked: new Set(), deadline: now + this.#timings.ackTimeoutMs };
    this.#startCode(transcript, out);
    this.#maybeSwitch(now, out);
  }

  #maybeSwitch(now: number, out: RoomKeyOutput[]): void {
    const pending = this.#pending;
    if (!pending) return;
    for (const id of pending.members) if (this.#members.has(id) && !pending.acked.has(id)) return;
    this.#switchAll(now, out);
  }

  #switchAll(now: number, out: RoomKeyOutput[]): void {
    const pending = this.#pending!;
    this.#pending = undefined;
    for (const id of pending.members) if (this.#pairs.has(id)) out.push({ kind: 'pair-send', memberId: id, message: { room: 'switch', roomId: this.roomId, epoch: pending.epoch } });
    this.#switchTo(pending.epoch, now, out);
  }

  // ---- member --------------------------------------------------------------------------------------------------

  #receiveGroupKey(from: number, message: Extract<RoomPairMessage, { room: 'group-key' }>, out: RoomKeyOutput[]): void {
    if (message.epoch <= this.#epoch || message.distributor !== from) {
      out.push({ kind: 'warning', code: 'bad-message', epoch: message.epoch, detail: `group key for an old epoch (${message.epoch} ≤ ${this.#epoch}) or from another distributor` });
      return;
    }
    const secret = base64ToBytes(message.secret);
    const members: RoomTranscriptMember[] = [];
    for (const m of message.members) {
      const pairHash = base64ToBytes(m.pairHash);
      if (!pairHash || pairHash.length !== 32) return void out.push({ kind: 'warning', code: 'bad-message', detail: 'a transcript entry without a 32-byte pair hash' });
      members.push({ memberId: m.memberId, userId: m.userId, deviceId: m.deviceId, pairHash });
    }
    if (!secret || secret.length !== GROUP_SECRET_LENGTH) return void out.push({ kind: 'warning', code: 'bad-message', detail: 'a group secret that is not 32 bytes' });
    // Our own entry: us as we are, with the hash of the pairwise key as we computed it.
    const own = this.#pairs.get(from)!.hash;
    const entry = members.find((m) => m.memberId === this.self.memberId);
    if (!entry || entry.userId !== this.self.userId || entry.deviceId !== this.self.deviceId) {
      out.push({ kind: 'warning', code: 'not-in-transcript', epoch: message.epoch, detail: 'the distributor\'s transcript does not list this device as it is' });
    } else if (!constantTimeEqual(entry.pairHash, own)) {
      out.push({
        kind: 'warning', code: 'own-entry-mismatch', epoch: message.epoch,
        detail: 'your key exchange with the distributor was tampered with: someone may be in the middle (the room code will differ)',
      });
    }
    // The code is computed over the transcript with our own entry as WE computed it.
    const view = members.map((m) => (m.memberId === this.self.memberId ? { ...m, pairHash: own } : m));
    this.#epoch = message.epoch;
    out.push({ kind: 'install', epoch: message.epoch, secret });
    out.push({ kind: 'epoch', epoch: message.epoch, members: members.map(({ memberId, userId, deviceId }) => ({ memberId, userId, deviceId })) });
    out.push({ kind: 'pair-send', memberId: from, message: { room: 'ack', roomId: this.roomId, epoch: message.epoch } });
    this.#startCode({ roomId: this.roomId, epoch: message.epoch, distributor: from, members: view }, out);
  }

  #switchTo(epoch: number, now: number, out: RoomKeyOutput[]): void {
    const previous = this.#sending;
    this.#sending = epoch;
    out.push({ kind: 'switch', epoch });
    if (previous > 0) this.#retire.push({ at: now + this.#timings.retireMs, before: epoch });
  }

  // ---- the room code -------------------------------------------------------------------------------------------

  #round(epoch: number): CodeRound {
    let round = this.#rounds.get(epoch);
    if (!round) {
      round = { commits: new Map(), reveals: new Map(), revealed: false, done: false };
      this.#rounds.set(epoch, round);
      // Forget rounds two epochs behind ours, and beyond six rounds the lowest (a flood of made-up epochs costs nothing).
      const ordered = [...this.#rounds.keys()].sort((x, y) => x - y);
      for (const old of ordered) {
        if (old + 2 <= this.#epoch || (this.#rounds.size > 6 && old !== epoch)) {
          this.#rounds.get(old)!.nonce?.fill(0);
          this.#rounds.delete(old);
        }
      }
    }
    return round;
  }

  /** We hold the epoch's transcript: commit to a fresh nonce. */
  #startCode(transcript: RoomTranscript, out: RoomKeyOutput[]): void {
    const round = this.#round(transcript.epoch);
    if (round.transcript) return;
    round.transcript = transcript;
    round.nonce = this.#random(ROOM_NONCE_LENGTH);
    const commit = roomCodeCommitment(this.roomId, transcript.epoch, this.self.memberId, round.nonce);
    round.commits.set(this.self.memberId, commit);
    round.reveals.set(this.self.memberId, round.nonce);
    out.push({ kind: 'code-send', epoch: transcript.epoch, step: 'commit', value: commit });
    this.#advanceCode(transcript.epoch, out);
  }

  /** Reveal once every member of the transcript committed; the code once every member revealed. */
  #advanceCode(epoch: number, out: RoomKeyOutput[]): void {
    const round = this.#rounds.get(epoch);
    const transcript = round?.transcript;
    if (!round || !transcript || round.done) return;
    const ids = transcript.members.map((m) => m.memberId);
    if (!round.revealed) {
      if (ids.some((id) => !round.commits.has(id))) return;
      round.revealed = true;
      out.push({ kind: 'code-send', epoch, step: 'reveal', value: round.nonce! });
    }
    if (ids.some((id) => !round.reveals.has(id))) return;
    round.done = true;
    const code = roomCode(transcript, round.reveals);
    out.push({ kind: 'code', epoch, emoji: code.emoji, indices: code.indices });
  }

  #dropPair(memberId: number): void {
    const pair = this.#pairs.get(memberId);
    pair?.key.fill(0);
    this.#pairs.delete(memberId);
    this.#opened.delete(memberId);
    if (this.#pending) this.#pending.members.delete(memberId);
  }
}

const ID = /^[A-Za-z0-9_.@-]{1,64}$/;
const isEpoch = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 0xffff_ffff;

/** Validates a pairwise room message; `undefined` for anything else. Never throws. */
export function parsePairMessage(data: unknown): RoomPairMessage | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as Record<string, unknown>;
  if (typeof m['roomId'] !== 'string' || !isEpoch(m['epoch'])) return undefined;
  switch (m['room']) {
    case 'ack':
    case 'switch':
      return { room: m['room'], roomId: m['roomId'], epoch: m['epoch'] };
    case 'group-key': {
      const members = m['members'];
      if (typeof m['secret'] !== 'string' || !isEpoch(m['distributor']) || !Array.isArray(members) || members.length < 1 || members.length > 255) return undefined;
      const list: { memberId: number; userId: string; deviceId: string; pairHash: string }[] = [];
      const seen = new Set<number>();
      for (const e of members as unknown[]) {
        const x = e as Record<string, unknown>;
        if (typeof e !== 'object' || e === null || !isEpoch(x['memberId']) || seen.has(x['memberId'])) return undefined;
        if (typeof x['userId'] !== 'string' || !ID.test(x['userId']) || typeof x['deviceId'] !== 'string' || !ID.test(x['deviceId']) || typeof x['pairHash'] !== 'string') return undefined;
        seen.add(x['memberId']);
        list.push({ memberId: x['memberId'], userId: x['userId'], deviceId: x['deviceId'], pairHash: x['pairHash'] });
      }
      return { room: 'group-key', roomId: m['roomId'], epoch: m['epoch'], secret: m['secret'], distributor: m['distributor'], members: list };
    }
    default:
      return undefined;
  }
}
