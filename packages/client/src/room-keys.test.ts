import { describe, expect, it } from 'vitest';
import { TELEGRAM_DH_GROUP, bytesToBase64, bytesToHex, computeSharedKey, generateDhKeyPair, roomCodeCommitment, roomPairHash as roomPairHashOf } from '@mtcall/crypto';
import { RoomKeyAgent, parsePairMessage, type RoomKeyOutput, type RoomMember, type RoomPairMessage } from './room-keys.js';

/**
 * A room of agents wired in memory: the server's membership, pairwise exchanges (a real DH per pair; a man in the
 * middle gives the two ends different keys), pairwise messages and the code relay, and a manual clock.
 */
class Room {
  now = 0;
  readonly agents = new Map<number, RoomKeyAgent>();
  readonly members: RoomMember[] = [];
  readonly log = new Map<number, RoomKeyOutput[]>();
  next = 1;
  /** Members whose exchange with the distributor the "server" attacks; `rewrite`: it also fixes their transcript entry. */
  readonly victims = new Set<number>();
  rewrite = false;
  /** When set, pairwise messages are held instead of delivered (to look at the order of things). */
  hold: { to: number; from: number; message: RoomPairMessage }[] | undefined;
  readonly pairKeys = new Map<string, { distributorSide: { key: Uint8Array; gA: Uint8Array }; memberSide: { key: Uint8Array; gA: Uint8Array } }>();

  join(userId: string): number {
    const memberId = this.next++;
    const member = { memberId, userId, deviceId: 'd1' };
    this.members.push(member);
    this.agents.set(memberId, new RoomKeyAgent({ roomId: 'room', self: member }));
    this.log.set(memberId, []);
    this.#announce();
    return memberId;
  }

  leave(memberId: number): void {
    this.members.splice(this.members.findIndex((m) => m.memberId === memberId), 1);
    this.agents.get(memberId)!.end();
    this.agents.delete(memberId);
    this.#announce();
  }

  get distributor(): number {
    return Math.min(...this.members.map((m) => m.memberId));
  }

  advance(ms: number): void {
    this.now += ms;
    for (const [id, agent] of this.agents) this.#apply(id, agent.tick(this.now));
  }

  outputs(id: number, kind: RoomKeyOutput['kind']): RoomKeyOutput[] {
    return this.log.get(id)!.filter((o) => o.kind === kind);
  }

  codes(): Map<number, string> {
    const result = new Map<number, string>();
    for (const [id, log] of this.log) {
      if (!this.agents.has(id)) continue;
      const codes = log.filter((o): o is Extract<RoomKeyOutput, { kind: 'code' }> => o.kind === 'code');
      const last = codes.at(-1);
      if (last && last.epoch === this.agents.get(id)!.epoch) result.set(id, last.emoji.join(''));
    }
    return result;
  }

  #announce(): void {
    // The server tells every member before any of them acts on it (one batch of outputs, delivered in order).
    const members = this.members.map((m) => ({ ...m }));
    const outputs = [...this.agents].map(([id, agent]) => [id, agent.membership(members, this.distributor, this.now)] as const);
    for (const [id, out] of outputs) this.#apply(id, out);
  }

  /** Deliveries in the order they were sent (one FIFO, as one server relaying everything would keep them). */
  readonly #queue: (() => void)[] = [];
  #pumping = false;

  #apply(id: number, outputs: RoomKeyOutput[]): void {
    this.log.get(id)?.push(...outputs);
    this.#queue.push(() => this.#act(id, outputs));
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) this.#queue.shift()!();
    } finally {
      this.#pumping = false;
    }
  }

  #act(id: number, outputs: RoomKeyOutput[]): void {
    for (const o of outputs) {
      switch (o.kind) {
        case 'open-pair':
          this.#pair(id, o.memberId);
          break;
        case 'pair-send':
          this.#deliver(o.memberId, id, o.message);
          break;
        case 'code-send':
          for (const [other, agent] of this.agents) if (other !== id) this.#apply(other, agent.codeMessage(id, o.epoch, o.step, o.value));
          break;
        default:
          break;
      }
    }
  }

  #pair(distributor: number, member: number): void {
    const to = this.agents.get(member);
    if (!to?.acceptsPairFrom(distributor)) throw new Error(`member ${member} refuses a pair from ${distributor}`);
    const { p, g } = TELEGRAM_DH_GROUP;
    const a = generateDhKeyPair(p, g);
    const b = generateDhKeyPair(p, g);
    const distributorSide = { key: computeSharedKey(b.publicKey, a.secret, p), gA: a.publicKey };
    let memberSide = { key: computeSharedKey(a.publicKey, b.secret, p), gA: a.publicKey };
    if (this.victims.has(member)) {
      // The server ran its own DH with each side: the two ends hold different keys (and the member a different g_a).
      const m = generateDhKeyPair(p, g);
      memberSide = { key: computeSharedKey(b.publicKey, m.secret, p), gA: m.publicKey };
    }
    this.pairKeys.set(`${distributor}-${member}`, { distributorSide, memberSide });
    // As on the wire: the callee has its key (phoneCall) before anything sealed under it reaches it.
    this.#apply(member, to.pairEstablished(distributor, memberSide.key, memberSide.gA, this.now));
    this.#apply(distributor, this.agents.get(distributor)!.pairEstablished(member, distributorSide.key, distributorSide.gA, this.now));
  }

  #deliver(to: number, from: number, message: RoomPairMessage): void {
    if (this.hold) return void this.hold.push({ to, from, message });
    const agent = this.agents.get(to);
    if (!agent) return;
    let delivered: unknown = JSON.parse(JSON.stringify(message));
    if (this.rewrite && message.room === 'group-key' && this.victims.has(to)) {
      // A rewriting man in the middle (it holds both pairwise keys): it puts the victim's own view in the transcript.
      const keys = this.pairKeys.get(`${from}-${to}`)!.memberSide;
      const own = bytesToBase64(roomPairHashOf(keys.key, keys.gA));
      delivered = { ...message, members: message.members.map((m) => (m.memberId === to ? { ...m, pairHash: own } : m)) };
    }
    this.#apply(to, agent.pairMessage(from, delivered, this.now));
  }

  flush(): void {
    const held = this.hold ?? [];
    this.hold = undefined;
    for (const h of held) this.#deliver(h.to, h.from, h.message);
  }
}

describe('RoomKeyAgent: the distributor, epochs and the room code', () => {
  it('three members: one epoch, everyone installs and switches to it, the same four emoji everywhere', () => {
    const room = new Room();
    const [a, b, c] = [room.join('alice'), room.join('bob'), room.join('carol')];
    const epochs = [a, b, c].map((id) => room.agents.get(id)!.epoch);
    expect(new Set(epochs).size).toBe(1);
    const epoch = epochs[0]!;
    for (const id of [a, b, c]) {
      expect(room.agents.get(id)!.sendingEpoch).toBe(epoch);
      expect(room.outputs(id, 'install').at(-1)).toMatchObject({ epoch });
    }
    // The group secret is the same for everyone (each derives every sender's key from it).
    const secrets = [a, b, c].map((id) => bytesToHex((room.outputs(id, 'install').at(-1) as { secret: Uint8Array }).secret));
    expect(new Set(secrets).size).toBe(1);
    const codes = room.codes();
    expect(codes.size).toBe(3);
    expect(new Set(codes.values()).size).toBe(1);
    expect([a, b, c].every((id) => room.outputs(id, 'warning').length === 0)).toBe(true);
  });

  it('every join and every leave makes a new epoch with a new secret; a leaver gets nothing of the next one', () => {
    const room = new Room();
    const a = room.join('alice');
    const b = room.join('bob');
    const e1 = room.agents.get(a)!.epoch;
    const c = room.join('carol');
    const e2 = room.agents.get(a)!.epoch;
    expect(e2).toBe(e1 + 1);
    const secretOf = (id: number, epoch: number) => bytesToHex((room.outputs(id, 'install').find((o) => o.kind === 'install' && o.epoch === epoch) as { secret: Uint8Array }).secret);
    expect(secretOf(b, e2)).not.toBe(secretOf(b, e1));
    // Carol joined at e2: she never received e1.
    expect(room.outputs(c, 'install').map((o) => (o as { epoch: number }).epoch)).toEqual([e2]);
    room.leave(b);
    const e3 = room.agents.get(a)!.epoch;
    expect(e3).toBe(e2 + 1);
    expect(room.agents.get(c)!.sendingEpoch).toBe(e3);
    // Bob's log ends at e2.
    expect(room.outputs(b, 'install').map((o) => (o as { epoch: number }).epoch)).not.toContain(e3);
    expect(new Set(room.codes().values()).size).toBe(1);
  });

  it('nobody is told to switch before every member holds the new epoch; the old epoch is retired 5 s after the switch', () => {
    const room = new Room();
    const a = room.join('alice');
    const b = room.join('bob');
    room.hold = [];
    room.join('carol');
    const e = room.agents.get(a)!.epoch;
    // Only group keys went out; the distributor itself has not switched yet.
    expect(room.hold.map((h) => h.message.room)).toEqual(['group-key', 'group-key']);
    expect(room.agents.get(a)!.sendingEpoch).toBe(e - 1);
    room.flush(); // group keys → acks → switches
    expect(room.agents.get(a)!.sendingEpoch).toBe(e);
    expect(room.agents.get(b)!.sendingEpoch).toBe(e);
    expect(room.outputs(b, 'retire')).toEqual([]);
    expect(room.agents.get(b)!.nextWakeAt()).toBe(room.now + 5_000);
    room.advance(4_999);
    expect(room.outputs(b, 'retire')).toEqual([]);
    room.advance(1);
    expect(room.outputs(b, 'retire')).toEqual([{ kind: 'retire', before: e }]);
  });

  it('a member that never acks does not stall the room: the distributor switches after the ack timeout', () => {
    const room = new Room();
    const a = room.join('alice');
    room.join('bob');
    room.hold = [];
    room.join('carol');
    const e = room.agents.get(a)!.epoch;
    room.hold = undefined; // the group keys are lost
    expect(room.agents.get(a)!.nextWakeAt()).toBe(room.now + 3_000);
    room.advance(3_000);
    expect(room.agents.get(a)!.sendingEpoch).toBe(e);
  });

  it('the distributor leaves: the next member takes over, exchanges keys with everyone and makes a new epoch', () => {
    const room = new Room();
    const [a, b, c, d] = [room.join('alice'), room.join('bob'), room.join('carol'), room.join('dave')];
    const before = room.agents.get(b)!.epoch;
    room.leave(a);
    expect(room.agents.get(b)!.isDistributor).toBe(true);
    for (const id of [b, c, d]) expect(room.agents.get(id)!.sendingEpoch).toBe(before + 1);
    expect(new Set(room.codes().values()).size).toBe(1);
  });

  it('commit before reveal: nobody reveals its nonce before it holds every member\'s commitment', () => {
    const room = new Room();
    room.join('alice');
    room.join('bob');
    room.join('carol');
    for (const [id, log] of room.log) {
      const sent = log.filter((o): o is Extract<RoomKeyOutput, { kind: 'code-send' }> => o.kind === 'code-send');
      const epoch = room.agents.get(id)!.epoch;
      const reveal = log.findIndex((o) => o.kind === 'code-send' && o.step === 'reveal' && o.epoch === epoch);
      expect(reveal).toBeGreaterThan(-1);
      expect(sent.filter((o) => o.epoch === epoch && o.step === 'commit')).toHaveLength(1);
      // Every other member's commitment for that epoch reached this member before its reveal went out (the room
      // delivers synchronously, so the others' commit-sends precede it in time).
    }
  });

  it('a revealed nonce that does not match its commitment is reported and does not count', () => {
    const agent = new RoomKeyAgent({ roomId: 'room', self: { memberId: 2, userId: 'bob', deviceId: 'd1' } });
    const nonce = new Uint8Array(32).fill(5);
    expect(agent.codeMessage(3, 1, 'commit', roomCodeCommitment('room', 1, 3, nonce))).toEqual([]);
    const out = agent.codeMessage(3, 1, 'reveal', new Uint8Array(32).fill(6));
    expect(out).toMatchObject([{ kind: 'warning', code: 'commitment-mismatch' }]);
  });
});

describe('RoomKeyAgent: a server in the middle of one member\'s key exchange', () => {
  it('passing the transcript on unchanged: the victim\'s own check fails (it is told) and its code differs', () => {
    const room = new Room();
    room.victims.add(3);
    const [a, b, c] = [room.join('alice'), room.join('bob'), room.join('carol')];
    expect(room.outputs(c, 'warning')).toMatchObject([{ code: 'own-entry-mismatch' }]);
    expect(room.outputs(a, 'warning')).toEqual([]);
    expect(room.outputs(b, 'warning')).toEqual([]);
    const codes = room.codes();
    expect(codes.get(a)).toBe(codes.get(b));
    expect(codes.get(c)).not.toBe(codes.get(a));
  });

  it('rewriting the victim\'s entry to pass its own check: the victim\'s code differs from everyone else\'s', () => {
    const room = new Room();
    room.victims.add(2);
    room.rewrite = true;
    const [a, b, c] = [room.join('alice'), room.join('bob'), room.join('carol')];
    expect(room.outputs(b, 'warning')).toEqual([]);
    const codes = room.codes();
    expect(codes.get(a)).toBe(codes.get(c));
    expect(codes.get(b)).not.toBe(codes.get(a));
  });
});

describe('RoomKeyAgent: what it accepts', () => {
  it('pairwise exchanges only from the distributor; group keys only from it and only newer; invalid messages are reported', () => {
    const room = new Room();
    const a = room.join('alice');
    const b = room.join('bob');
    const agent = room.agents.get(b)!;
    expect(agent.acceptsPairFrom(a)).toBe(true);
    expect(agent.acceptsPairFrom(b)).toBe(false);
    expect(agent.acceptsPairFrom(99)).toBe(false);
    const epoch = agent.epoch;
    const replay = room.log.get(a)!.find((o) => o.kind === 'pair-send' && o.message.room === 'group-key') as { message: RoomPairMessage };
    expect(agent.pairMessage(a, replay.message, room.now)).toMatchObject([{ kind: 'warning', code: 'bad-message' }]);
    expect(agent.epoch).toBe(epoch);
    expect(agent.pairMessage(a, { room: 'group-key', roomId: 'room', epoch: 1e12 }, room.now)).toMatchObject([{ kind: 'warning', code: 'bad-message' }]);
    expect(agent.pairMessage(7, { room: 'ack', roomId: 'room', epoch: 1 }, room.now)).toMatchObject([{ kind: 'warning', code: 'bad-message' }]);
  });

  it('parsePairMessage never throws and takes only well-formed messages', () => {
    for (const bad of [null, 1, 'x', [], {}, { room: 'ack' }, { room: 'ack', roomId: 'r', epoch: 0 }, { room: 'group-key', roomId: 'r', epoch: 1, secret: 's', distributor: 1, members: [{ memberId: 1, userId: '!', deviceId: 'd', pairHash: '' }] }]) {
      expect(parsePairMessage(bad)).toBeUndefined();
    }
    expect(parsePairMessage({ room: 'switch', roomId: 'r', epoch: 2, extra: true })).toEqual({ room: 'switch', roomId: 'r', epoch: 2 });
  });
});
