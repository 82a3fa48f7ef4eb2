/**
 * TURN REST API credentials (draft-uberti-behave-turn-rest; coturn's `use-auth-secret` / `static-auth-secret`):
 * username = `${expiry}:${userId}` (expiry in Unix seconds), password = base64(HMAC-SHA1(secret, username)).
 * The TURN server recomputes the HMAC with the shared secret and refuses expired usernames, so the signaling
 * server can hand out short-lived credentials without talking to it. Node only (node:crypto).
 */

import { createHmac } from 'node:crypto';

/** Where the TURN relay is and the secret it shares with the signaling server. */
export interface TurnOptions {
  /** e.g. ['turn:127.0.0.1:3478?transport=udp']. */
  urls: string[];
  /** coturn's `static-auth-secret`. */
  secret: string;
  /** How long credentials stay valid. */
  ttlSeconds: number;
}

/** One entry of RTCConfiguration.iceServers. */
export interface TurnIceServer {
  urls: string[];
  username: string;
  credential: string;
}

/** The password coturn expects for `username`: base64(HMAC-SHA1(secret, username)). */
export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/** Credentials for `userId`, valid until `nowMs` + ttl. */
export function turnCredentials(turn: TurnOptions, userId: string, nowMs: number = Date.now()): TurnIceServer {
  const expiry = Math.floor(nowMs / 1000) + Math.floor(turn.ttlSeconds);
  const username = `${expiry}:${userId}`;
  return { urls: [...turn.urls], username, credential: turnPassword(turn.secret, username) };
}

/** --turn-url (repeatable, comma-separated), --turn-secret, --turn-ttl → TurnOptions, or undefined when unset. */
export function parseTurnOptions(urls: string[] | undefined, secret: string | undefined, ttl: string | undefined): TurnOptions | undefined {
  const list = (urls ?? []).flatMap((u) => u.split(',')).map((u) => u.trim()).filter(Boolean);
  if (list.length === 0 && !secret) return undefined;
  if (list.length === 0) throw new Error('--turn-secret needs --turn-url');
  if (!secret) throw new Error('--turn-url needs --turn-secret (or MTCALL_TURN_SECRET)');
  for (const url of list) if (!/^turns?:/.test(url)) throw new Error(`--turn-url must start with turn: or turns:, got ${url}`);
  const ttlSeconds = ttl === undefined ? 3600 : Number(ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new Error(`--turn-ttl must be a positive whole number of seconds, got ${ttl}`);
  return { urls: list, secret, ttlSeconds };
}
