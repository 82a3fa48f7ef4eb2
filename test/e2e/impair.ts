/**
 * A lossy link in user space (this kernel has no netem): a UDP forwarder in front of the TURN relay. Browsers are
 * handed `turn:127.0.0.1:<forwarder port>` and run relay-only ICE, so every media packet of the call crosses it both
 * ways. Each direction can drop (independently or in bursts), delay with jitter, reorder and duplicate packets, all
 * from a seeded PRNG (a run is reproducible), and the whole link can be blacked out.
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/** How the link misbehaves; all fractions are per packet. */
export interface Impairment {
  /** Independent loss. */
  loss: number;
  /** Start of a loss burst (Gilbert–Elliott "bad" state), and its mean length in packets. */
  burstStart: number;
  burstLength: number;
  /** One-way delay and uniform jitter (ms): RTT ≈ 2 × (delay of each direction). */
  delayMs: number;
  jitterMs: number;
  /** Extra delay for a fraction of packets, so they arrive after later ones. */
  reorder: number;
  reorderMs: number;
  duplicate: number;
}

export const NO_IMPAIRMENT: Impairment = { loss: 0, burstStart: 0, burstLength: 1, delayMs: 0, jitterMs: 0, reorder: 0, reorderMs: 0, duplicate: 0 };

/** xorshift32: small, seeded, reproducible. */
class Prng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state / 2 ** 32;
  }
}

export interface ImpairedLinkStats {
  forwarded: number;
  dropped: number;
  duplicated: number;
  blackedOut: number;
}

/** A running forwarder. */
export class ImpairedLink {
  readonly port: number;
  readonly stats: ImpairedLinkStats = { forwarded: 0, dropped: 0, duplicated: 0, blackedOut: 0 };
  impairment: Impairment;
  #blackout = false;
  readonly #front: Socket;
  readonly #target: { host: string; port: number };
  readonly #upstreams = new Map<string, Socket>();
  readonly #rng: Prng;
  readonly #bursting = new Map<string, boolean>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();

  private constructor(front: Socket, target: { host: string; port: number }, impairment: Impairment, seed: number) {
    this.#front = front;
    this.#target = target;
    this.impairment = impairment;
    this.#rng = new Prng(seed);
    this.port = front.address().port;
    front.on('message', (data, from) => this.#fromClient(data, from));
  }

  /** Listens on 127.0.0.1 (a free port) and forwards to `target` (the TURN relay's UDP port). */
  static async start(target: { host: string; port: number }, impairment: Partial<Impairment> = {}, seed = 1): Promise<ImpairedLink> {
    const front = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      front.once('error', reject);
      front.bind(0, '127.0.0.1', () => resolve());
    });
    return new ImpairedLink(front, target, { ...NO_IMPAIRMENT, ...impairment }, seed);
  }

  /** Cuts (true) or restores (false) the link: while cut every packet is dropped, both ways. */
  blackout(on: boolean): void {
    this.#blackout = on;
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    for (const s of this.#upstreams.values()) s.close();
    await new Promise<void>((resolve) => this.#front.close(() => resolve()));
  }

  #fromClient(data: Buffer, from: RemoteInfo): void {
    const key = `${from.address}:${from.port}`;
    let upstream = this.#upstreams.get(key);
    if (!upstream) {
      upstream = createSocket('udp4');
      upstream.bind(0, '127.0.0.1');
      upstream.on('message', (reply) => this.#deliver(`down ${key}`, reply, (bytes) => this.#front.send(bytes, from.port, from.address)));
      this.#upstreams.set(key, upstream);
    }
    const up = upstream;
    this.#deliver(`up ${key}`, data, (bytes) => up.send(bytes, this.#target.port, this.#target.host));
  }

  #deliver(direction: string, data: Buffer, send: (bytes: Buffer) => void): void {
    if (this.#blackout) {
      this.stats.blackedOut++;
      return;
    }
    const i = this.impairment;
    const r = this.#rng;
    let bursting = this.#bursting.get(direction) ?? false;
    if (bursting ? r.next() < 1 / Math.max(1, i.burstLength) : r.next() < i.burstStart) bursting = !bursting;
    this.#bursting.set(direction, bursting);
    if (bursting || r.next() < i.loss) {
      this.stats.dropped++;
      return;
    }
    const copies = r.next() < i.duplicate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      const delay = i.delayMs + (i.jitterMs > 0 ? r.next() * i.jitterMs : 0) + (r.next() < i.reorder ? i.reorderMs : 0);
      this.stats.forwarded++;
      if (delay <= 0) send(data);
      else {
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          send(data);
        }, delay);
        this.#timers.add(timer);
      }
    }
  }
}
