/**
 * What the sans-IO server core asks its adapter to do, and the outbox every part of the core writes to: messages
 * (one object may be addressed to many connections: the adapter serialises it once), closes, token checks, and SFU
 * operations (rooms). Error replies and log entries go through here so they are counted and shaped in one place.
 */

import type { RoomRequest } from './server-rooms.js';
import type { ServerErrorCode, ServerMessage } from './protocol.js';

/** Identifies one WebSocket connection (one device). */
export type ConnectionId = number;

/**
 * What the adapter must do. One message object may be addressed to many connections (presence, rooms): the adapter
 * serialises each object once.
 */
export type ServerOutput =
  | { kind: 'send'; to: ConnectionId; message: ServerMessage }
  | { kind: 'close'; to: ConnectionId; code: number; reason: string }
  /** Check a signed token (asynchronously), then report the result with `tokenVerified`. */
  | { kind: 'verify-token'; to: ConnectionId; token: string }
  /** Run an SFU operation for a room member (asynchronously), then report the outcome with `roomMediaDone`. */
  | { kind: 'room-media'; to: ConnectionId; request: RoomRequest };

/** A structured log entry. Never carries key-agreement values or signaling payloads. */
export interface ServerLogEntry {
  event: string;
  connection?: ConnectionId;
  userId?: string;
  deviceId?: string;
  callId?: string;
  roomId?: string;
  detail?: string;
}

/** Where each part of the core writes its outputs for one input. */
export class Outbox {
  readonly outputs: ServerOutput[] = [];
  readonly #counters: { errorsSent: number };
  readonly #log: ((entry: ServerLogEntry) => void) | undefined;

  constructor(counters: { errorsSent: number }, log: ((entry: ServerLogEntry) => void) | undefined) {
    this.#counters = counters;
    this.#log = log;
  }

  send(to: ConnectionId, message: ServerMessage): void {
    this.outputs.push({ kind: 'send', to, message });
  }

  /** A named error reply; `ids` correlate it with the request, call or room it answers. */
  error(to: ConnectionId, code: ServerErrorCode, message: string, ids: { callId?: string; requestId?: string; roomId?: string; chatId?: string } = {}): void {
    this.#counters.errorsSent++;
    const error: ServerMessage = { type: 'error', code, message };
    if (ids.callId !== undefined) error.callId = ids.callId;
    if (ids.requestId !== undefined) error.requestId = ids.requestId;
    if (ids.roomId !== undefined) error.roomId = ids.roomId;
    if (ids.chatId !== undefined) error.chatId = ids.chatId;
    this.outputs.push({ kind: 'send', to, message: error });
  }

  close(to: ConnectionId, code: number, reason: string): void {
    this.outputs.push({ kind: 'close', to, code, reason });
  }

  push(output: ServerOutput): void {
    this.outputs.push(output);
  }

  log(entry: ServerLogEntry): void {
    this.#log?.(entry);
  }
}
