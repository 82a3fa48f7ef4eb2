/**
 * `mtcall-peer chat <user>`: a secret chat from Node — the SDK's `SecretChats` over a `SignalingClient` on `ws`.
 * Opens the chat with <user> (or, with `wait`, waits for <user> to open one), sends the given messages once the key
 * is agreed, and reports every message it receives; `echo` answers each with the same text (a test bot).
 */

import WebSocket from 'ws';
import { SignalingClient } from '@mtcall/signaling';
import { SecretChats, type ChatMessage, type ChatSession } from '@mtcall/client';

/** Options of `runChat`. */
export interface ChatPeerOptions {
  server: string;
  user: string;
  peer: string;
  token?: string;
  /** Messages to send once the chat is established, in order. */
  send: string[];
  /** Wait for `peer` to open the chat instead of opening it. */
  wait: boolean;
  /** Answer every message with the same text. */
  echo: boolean;
  /** Called for every event (the CLI prints them as JSON lines). */
  onEvent: (event: ChatPeerEvent) => void;
}

/** What the chat peer reports. */
export type ChatPeerEvent =
  | { event: 'key'; visualization: string; fingerprint: string; rekeys: number }
  | { event: 'message'; from: string; text: string; file?: { name: string; size: number } }
  | { event: 'delivered'; text: string }
  | { event: 'failed'; text: string; failure: string }
  | { event: 'read'; count: number }
  | { event: 'closed'; reason: string }
  | { event: 'error'; message: string };

/** A running chat peer. */
export interface RunningChatPeer {
  readonly client: SignalingClient;
  /** The chat, once opened (ours) or accepted (theirs). */
  session(): ChatSession | undefined;
  /** Messages received so far. */
  readonly received: ChatMessage[];
  close(): void;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Connects and runs the chat. Rejects when the server cannot be reached. */
export async function runChat(options: ChatPeerOptions): Promise<RunningChatPeer> {
  const client = new SignalingClient({ url: options.server, userId: options.user, WebSocket: WebSocket as never, ...(options.token !== undefined ? { token: options.token } : {}) });
  await client.connect();
  const chats = new SecretChats(client);
  const received: ChatMessage[] = [];
  let session: ChatSession | undefined;
  const follow = (s: ChatSession) => {
    session = s;
    const pending = [...options.send];
    const flush = () => {
      if (s.state !== 'established') return;
      for (const text of pending.splice(0)) s.send(text);
    };
    s.on('key', (key) => {
      options.onEvent({ event: 'key', visualization: hex(key.visualization), fingerprint: key.fingerprint.toString(), rekeys: key.rekeys });
      flush();
    });
    s.on('message', (m) => {
      received.push(m);
      options.onEvent({ event: 'message', from: s.peerId, text: m.text, ...(m.file ? { file: { name: m.file.name, size: m.file.size } } : {}) });
      s.markRead();
      if (options.echo && m.text) s.send(m.text);
    });
    s.on('delivered', (m) => options.onEvent({ event: 'delivered', text: m.text }));
    s.on('failed', (m) => options.onEvent({ event: 'failed', text: m.text, failure: m.failure ?? 'refused' }));
    s.on('read', (ms) => options.onEvent({ event: 'read', count: ms.length }));
    s.on('state', (state) => {
      if (state === 'closed') options.onEvent({ event: 'closed', reason: s.closeReason ?? 'closed' });
    });
    s.on('error', (e) => options.onEvent({ event: 'error', message: e.message }));
    flush();
  };
  chats.on('chat', (s) => {
    if (s.peerId === options.peer) follow(s);
  });
  if (!options.wait) follow(chats.chat(options.peer));
  return {
    client,
    session: () => session,
    received,
    close: () => {
      chats.flushAcks();
      client.close();
    },
  };
}
