/** A raw protocol client over a real WebSocket, for server tests: send any frame, await typed replies. */
import WebSocket from 'ws';
import type { ServerMessage } from '../protocol.js';

export class RawClient {
  readonly socket: WebSocket;
  readonly received: ServerMessage[] = [];
  #waiters: { match: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = [];
  closed: Promise<{ code: number; reason: string }>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as ServerMessage;
      this.received.push(message);
      const waiter = this.#waiters.find((w) => w.match(message));
      if (waiter) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async connect(url: string, hello?: { userId: string; deviceId: string; token?: string; presence?: boolean }): Promise<RawClient> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    if (hello) {
      client.send({ type: 'hello', protocol: 1, ...hello });
      await client.next((m) => m.type === 'welcome');
    }
    return client;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first already-received or future message matching. */
  next<T extends ServerMessage['type']>(match: T | ((m: ServerMessage) => boolean), timeoutMs = 10_000): Promise<Extract<ServerMessage, { type: T }>> {
    const predicate = typeof match === 'string' ? (m: ServerMessage) => m.type === match : match;
    const index = this.received.findIndex(predicate);
    if (index >= 0) return Promise.resolve(this.received.splice(index, 1)[0] as Extract<ServerMessage, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${String(match)}; got ${JSON.stringify(this.received.map((m) => m.type))}`)), timeoutMs);
      this.#waiters.push({
        match: predicate,
        resolve: (m) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(m), 1);
          resolve(m as Extract<ServerMessage, { type: T }>);
        },
      });
    });
  }

  close(): void {
    this.socket.close();
  }
}
