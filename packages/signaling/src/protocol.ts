/**
 * The signaling wire protocol: JSON text frames over one WebSocket per device. Every message has a `type`;
 * byte fields are strict padded base64. Client and server validate every frame against these schemas.
 *
 * The three key-agreement messages carry exactly what the calls spec lets the server see:
 * `requestCall.gAHash` (SHA256(g_a)), `acceptCall.gB`, `confirmCall.gA` + `keyFingerprint`.
 */

import * as v from 'valibot';
import { base64ToBytes } from '@mtcall/crypto';

/** Protocol version announced in `hello`/`welcome`. */
export const PROTOCOL_VERSION = 1;

/** Why a call ended, as the UI shows it. The first group comes from the handshake checks. */
export type CallEndReason =
  | 'bad-dh-config' // the server's p or g failed a check of the secret-chat spec
  | 'bad-g-a' // the caller's g_a failed a range check
  | 'bad-g-b' // the callee's g_b failed a range check
  | 'commitment-mismatch' // SHA256(g_a) differs from the g_a_hash committed to in requestCall
  | 'fingerprint-mismatch' // the key fingerprints of the two sides differ
  | 'protocol-error' // a message arrived that the handshake state does not allow
  | 'declined' // the callee declined
  | 'busy' // the callee is in another call
  | 'hangup' // a party hung up
  | 'timeout' // not answered, or not confirmed, in time
  | 'answered-elsewhere' // another device of the callee took the call
  | 'offline' // the callee has no device online
  | 'disconnected' // a party's connection dropped
  | 'seq-exhausted' // the seq counter reached 2^30 (the spec's abort)
  | 'failed'; // anything else (details in the message)

export const CALL_END_REASONS: readonly CallEndReason[] = [
  'bad-dh-config', 'bad-g-a', 'bad-g-b', 'commitment-mismatch', 'fingerprint-mismatch', 'protocol-error', 'declined',
  'busy', 'hangup', 'timeout', 'answered-elsewhere', 'offline', 'disconnected', 'seq-exhausted', 'failed',
];

/** Error codes of the server's `error` replies. */
export type ServerErrorCode =
  | 'bad-json'
  | 'unknown-type'
  | 'invalid-message'
  | 'frame-too-large'
  | 'not-authenticated'
  | 'already-authenticated'
  | 'unauthorized'
  | 'unknown-call'
  | 'not-a-participant'
  | 'wrong-state'
  | 'self-call'
  | 'rate-limited';

const MAX_ID = 64;
const idSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'must be 1..64 of A-Z a-z 0-9 _ . @ -'));
const callIdSchema = v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits'));
const requestIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,40}$/, 'must be 1..40 of A-Z a-z 0-9 _ -'));
const base64Bytes = (length: number) =>
  v.pipe(
    v.string(),
    v.maxLength(Math.ceil(length / 3) * 4, `must be ${length} bytes of base64`),
    v.check((s) => base64ToBytes(s)?.length === length, `must be ${length} bytes of base64`),
  );
const base64Any = (maxBytes: number) =>
  v.pipe(
    v.string(),
    v.maxLength(Math.ceil(maxBytes / 3) * 4, `must be at most ${maxBytes} bytes`),
    v.check((s) => base64ToBytes(s) !== null, 'must be base64'),
  );
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const FINGERPRINT_RE = /^-?(0|[1-9][0-9]{0,18})$/;
// The range check must be safe on any string: valibot runs every check of a pipe even after the regex failed,
// and BigInt('abc') throws (found by the fuzzer: it crashed the server).
const fingerprintSchema = v.pipe(
  v.string(),
  v.regex(FINGERPRINT_RE, 'must be a decimal 64-bit integer'),
  v.check((s) => FINGERPRINT_RE.test(s) && BigInt(s) >= INT64_MIN && BigInt(s) <= INT64_MAX, 'must fit in a signed 64-bit integer'),
);
const count = v.pipe(v.number(), v.integer(), v.minValue(0));
const reasonSchema = v.picklist(CALL_END_REASONS as CallEndReason[]);

/** Largest sealed in-call signaling packet the server relays (SDP of a many-codec offer fits with room). */
export const MAX_SIGNALING_DATA_BYTES = 32 * 1024;

/** Messages a client sends. */
export const clientMessageSchema = v.variant('type', [
  v.strictObject({
    type: v.literal('hello'),
    protocol: v.literal(PROTOCOL_VERSION),
    userId: idSchema,
    deviceId: idSchema,
    token: v.optional(v.pipe(v.string(), v.maxLength(256))),
    /** Ask for `presence` updates (who is online). */
    presence: v.optional(v.boolean()),
  }),
  v.strictObject({ type: v.literal('getDhConfig'), version: v.pipe(v.number(), v.integer(), v.minValue(0)) }),
  v.strictObject({ type: v.literal('requestCall'), requestId: requestIdSchema, calleeId: idSchema, gAHash: base64Bytes(32), video: v.boolean() }),
  v.strictObject({ type: v.literal('acceptCall'), callId: callIdSchema, gB: base64Bytes(256) }),
  v.strictObject({ type: v.literal('confirmCall'), callId: callIdSchema, gA: base64Bytes(256), keyFingerprint: fingerprintSchema }),
  v.strictObject({ type: v.literal('discardCall'), callId: callIdSchema, reason: reasonSchema }),
  v.strictObject({ type: v.literal('signalingData'), callId: callIdSchema, data: base64Any(MAX_SIGNALING_DATA_BYTES) }),
]);

/** A message a client sends. */
export type ClientMessage = v.InferOutput<typeof clientMessageSchema>;

/** A user seen by the server, for the "who is online" list. */
export interface PresenceEntry {
  userId: string;
  devices: number;
  inCall: boolean;
}

/** A STUN/TURN server for RTCConfiguration.iceServers (TURN: short-lived REST API credentials). */
export interface IceServerInfo {
  urls: string[];
  username?: string;
  credential?: string;
}

/** Messages the server sends. */
export type ServerMessage =
  | { type: 'welcome'; protocol: number; userId: string; deviceId: string; dhVersion: number; iceServers?: IceServerInfo[] }
  | { type: 'presence'; users: PresenceEntry[] }
  | { type: 'dhConfig'; version: number; p: string; g: number }
  | { type: 'dhConfigNotModified'; version: number }
  | { type: 'callRequested'; requestId: string; callId: string; devices: number }
  | { type: 'phoneCallRequested'; callId: string; callerId: string; gAHash: string; video: boolean }
  | { type: 'phoneCallAccepted'; callId: string; gB: string }
  | { type: 'phoneCall'; callId: string; gA: string; keyFingerprint: string }
  | { type: 'phoneCallDiscarded'; callId: string; reason: CallEndReason }
  | { type: 'signalingData'; callId: string; data: string }
  | { type: 'error'; code: ServerErrorCode; message: string; requestId?: string; callId?: string };

const iceServerSchema = v.object({
  urls: v.pipe(v.array(v.pipe(v.string(), v.maxLength(512), v.regex(/^(stun|stuns|turn|turns):/))), v.minLength(1), v.maxLength(8)),
  username: v.optional(v.pipe(v.string(), v.maxLength(512))),
  credential: v.optional(v.pipe(v.string(), v.maxLength(512))),
});

/** Schema of server messages, for clients (a client validates what it receives too). */
export const serverMessageSchema = v.variant('type', [
  v.object({
    type: v.literal('welcome'), protocol: count, userId: idSchema, deviceId: idSchema, dhVersion: count,
    iceServers: v.optional(v.pipe(v.array(iceServerSchema), v.maxLength(8))),
  }),
  v.object({ type: v.literal('presence'), users: v.array(v.object({ userId: idSchema, devices: count, inCall: v.boolean() })) }),
  v.object({ type: v.literal('dhConfig'), version: v.pipe(v.number(), v.integer(), v.minValue(1)), p: base64Bytes(256), g: v.pipe(v.number(), v.integer()) }),
  v.object({ type: v.literal('dhConfigNotModified'), version: count }),
  v.object({ type: v.literal('callRequested'), requestId: requestIdSchema, callId: callIdSchema, devices: count }),
  v.object({ type: v.literal('phoneCallRequested'), callId: callIdSchema, callerId: idSchema, gAHash: base64Bytes(32), video: v.boolean() }),
  v.object({ type: v.literal('phoneCallAccepted'), callId: callIdSchema, gB: base64Bytes(256) }),
  v.object({ type: v.literal('phoneCall'), callId: callIdSchema, gA: base64Bytes(256), keyFingerprint: fingerprintSchema }),
  v.object({ type: v.literal('phoneCallDiscarded'), callId: callIdSchema, reason: reasonSchema }),
  v.object({ type: v.literal('signalingData'), callId: callIdSchema, data: base64Any(MAX_SIGNALING_DATA_BYTES) }),
  v.object({ type: v.literal('error'), code: v.string(), message: v.string(), requestId: v.optional(v.string()), callId: v.optional(v.string()) }),
]);

/** Result of parsing one frame. */
export type ParseResult<T> = { ok: true; message: T } | { ok: false; code: 'bad-json' | 'unknown-type' | 'invalid-message'; message: string };

function parseWith<T>(schema: v.GenericSchema<unknown, T>, known: ReadonlySet<string>, text: string): ParseResult<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, code: 'bad-json', message: 'frame is not valid JSON' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, code: 'invalid-message', message: 'frame must be a JSON object' };
  }
  const type = (json as { type?: unknown }).type;
  if (typeof type !== 'string' || !known.has(type)) {
    return { ok: false, code: 'unknown-type', message: `unknown message type ${JSON.stringify(type)?.slice(0, MAX_ID)}` };
  }
  let result: ReturnType<typeof v.safeParse<v.GenericSchema<unknown, T>>>;
  try {
    result = v.safeParse(schema, json);
  } catch (error) {
    // Defence in depth: a schema check that throws must not escape ("never throws").
    return { ok: false, code: 'invalid-message', message: `${type}: rejected (${error instanceof Error ? error.name : 'error'})` };
  }
  if (!result.success) {
    const issue = result.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join('.') ?? '';
    return { ok: false, code: 'invalid-message', message: `${type}: ${path ? path + ' ' : ''}${issue.message}` };
  }
  return { ok: true, message: result.output };
}

const CLIENT_TYPES = new Set(['hello', 'getDhConfig', 'requestCall', 'acceptCall', 'confirmCall', 'discardCall', 'signalingData']);
const SERVER_TYPES = new Set(['welcome', 'presence', 'dhConfig', 'dhConfigNotModified', 'callRequested', 'phoneCallRequested', 'phoneCallAccepted', 'phoneCall', 'phoneCallDiscarded', 'signalingData', 'error']);

/** Parses and validates a frame a client sent. Never throws. */
export function parseClientMessage(text: string): ParseResult<ClientMessage> {
  return parseWith(clientMessageSchema, CLIENT_TYPES, text);
}

/** Parses and validates a frame the server sent. Never throws. */
export function parseServerMessage(text: string): ParseResult<ServerMessage> {
  return parseWith(serverMessageSchema as v.GenericSchema<unknown, ServerMessage>, SERVER_TYPES, text);
}
