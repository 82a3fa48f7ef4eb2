/**
 * A running peer: one SignalingClient that answers (auto-accept) or places calls, and one MediaPeer per
 * established call. The CLI and the tests both drive this.
 */

import { emojiForDisplay } from '@mtcall/crypto';
import WebSocket from 'ws';
import { SignalingClient, type Call, type CallEndReason } from '@mtcall/signaling';
import type { ReconnectOptions } from '@mtcall/client';
import { MediaPeer, type PeerReport, type SendMode } from './peer.js';

export interface PeerOptions {
  server: string;
  user: string;
  token?: string | undefined;
  /** Call this user; otherwise wait for calls and accept them. */
  call?: string | undefined;
  send: SendMode;
  wrongKey?: boolean;
  record?: boolean;
  iceAdditionalHostAddresses?: string[];
  /** Relay-only ICE through the signaling server's TURN relays (as the browsers' "relay only"). */
  relay?: boolean;
  /** When to restart ICE after the media path breaks, and when to give up (the call ends with `connection-lost`). */
  reconnect?: Partial<ReconnectOptions>;
  log?: (line: string) => void;
}

export interface CallRecord {
  call: Call;
  peerId: string;
  emoji?: string[];
  media?: MediaPeer;
  ended?: CallEndReason;
  /** The report at the moment the call ended (a live report while it runs). */
  final?: PeerReport;
}

export interface RunningPeer {
  client: SignalingClient;
  calls: CallRecord[];
  /** The last call's report (live, or its final one). */
  report(): (PeerReport & { emoji?: string[]; peer: string; ended?: string }) | undefined;
  close(): Promise<void>;
}

export async function startPeer(options: PeerOptions): Promise<RunningPeer> {
  const log = options.log ?? (() => undefined);
  const client = new SignalingClient({
    url: options.server,
    userId: options.user,
    WebSocket: WebSocket as never,
    ...(options.token !== undefined ? { token: options.token } : {}),
  });
  const calls: CallRecord[] = [];

  const track = (call: Call) => {
    const record: CallRecord = { call, peerId: call.peerId };
    calls.push(record);
    call.on('established', (keys) => {
      record.emoji = keys.emoji.map(emojiForDisplay); // the forms people see (as the browsers show them)
      log(`call with ${call.peerId} established; compare the emoji: ${record.emoji.join(" ")}`);
      record.media = new MediaPeer({
        call,
        send: options.send,
        wrongKey: options.wrongKey ?? false,
        record: options.record ?? false,
        ...(options.iceAdditionalHostAddresses ? { iceAdditionalHostAddresses: options.iceAdditionalHostAddresses } : {}),
        iceServers: client.iceServers,
        relay: options.relay ?? false,
        ...(options.reconnect ? { reconnect: options.reconnect } : {}),
        onError: (message) => log(`media error: ${message}`),
        onPath: (line) => log(`call with ${call.peerId}: ${line}`),
      });
    });
    call.on('ended', ({ reason }) => {
      record.ended = reason;
      if (record.media) record.final = record.media.report();
      log(`call with ${call.peerId} ended: ${reason}`);
    });
    return record;
  };

  client.on('incoming', (call) => {
    log(`incoming call from ${call.peerId}: accepting`);
    track(call);
    call.accept();
  });
  await client.connect();
  log(`signed in as ${options.user} at ${options.server}`);
  if (options.call) track(client.call(options.call, { video: false }));

  return {
    client,
    calls,
    report() {
      const last = calls.at(-1);
      if (!last) return undefined;
      const live = last.final ?? last.media?.report();
      if (!live) return undefined;
      return { ...live, peer: last.peerId, ...(last.emoji ? { emoji: last.emoji } : {}), ...(last.ended ? { ended: last.ended } : {}) };
    },
    async close() {
      for (const record of calls) {
        if (record.media && !record.final) record.final = record.media.report();
        if (!record.ended) record.call.hangUp();
        await record.media?.close();
      }
      client.close();
    },
  };
}
