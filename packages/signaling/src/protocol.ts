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

/** Why a call ended, as the UI shows it, written once. The first group comes from the handshake checks. */
export const CALL_END_REASONS = [
  'bad-dh-config', // the server's p or g failed a check of the secret-chat spec
  'bad-g-a', // the caller's g_a failed a range check
  'bad-g-b', // the callee's g_b failed a range check
  'commitment-mismatch', // SHA256(g_a) differs from the g_a_hash committed to in requestCall
  'fingerprint-mismatch', // the key fingerprints of the two sides differ
  'protocol-error', // a message arrived that the handshake state does not allow
  'declined', // the callee declined
  'busy', // the callee is in another call (or already rung by as many calls as the server allows)
  'hangup', // a party hung up
  'timeout', // not answered, or not confirmed, in time
  'answered-elsewhere', // another device of the callee took the call
  'offline', // the callee has no device online
  'disconnected', // a party's connection dropped
  'seq-exhausted', // the seq counter reached 2^30 (the spec's abort)
  'verification-failed', // a person said the four emoji do not match: someone may be in the middle
  'connection-lost', // the media path broke and could not be restored
  'failed', // anything else (details in the message)
] as const;

/** Why a call ended. */
export type CallEndReason = (typeof CALL_END_REASONS)[number];

/** Error codes of the server's `error` replies, written once. */
export const SERVER_ERROR_CODES = [
  'bad-json', // the frame is not JSON
  'unknown-type', // no such message type
  'invalid-message', // a field failed its schema
  'frame-too-large', // larger than --max-message-bytes
  'not-authenticated', // a message before a completed hello
  'already-authenticated', // a second hello (or one while the first is being checked)
  'unauthorized', // wrong shared token, or a signed token that is invalid, expired or for another user
  'unknown-call', // no such call (it may have ended)
  'not-a-participant', // this device is not part of the call
  'wrong-state', // the call is not in a state that allows this message
  'self-call', // a user cannot call themselves
  'rate-limited', // more messages than the per-connection rate allows
  'too-many-calls', // this device already has the maximum number of outgoing calls in progress
  'watch-limit', // `watch` named more users than the server allows one connection to watch
  'presence-unavailable', // `hello.presence` asked for the directory, which this server does not offer
] as const;

/** An error code of the server's `error` replies. */
export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number];

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
const reasonSchema = v.picklist(CALL_END_REASONS);

/** Longest token accepted in `hello` (a signed JWT with a few claims is 200–600 characters). */
export const MAX_TOKEN_CHARS = 4096;

/** Most user ids one `watch` message may carry (the server's own cap is usually lower). */
export const MAX_WATCH_PER_MESSAGE = 10_000;

/** Largest sealed in-call signaling packet the server relays (SDP of a many-codec offer fits with room). */
export const MAX_SIGNALING_DATA_BYTES = 32 * 1024;

/** Messages a client sends. */
export const clientMessageSchema = v.variant('type', [
  v.strictObject({
    type: v.literal('hello'),
    protocol: v.literal(PROTOCOL_VERSION),
    userId: idSchema,
    deviceId: idSchema,
    /** The shared token, or a signed token (JWT) naming this user, as the server requires. */
    token: v.optional(v.pipe(v.string(), v.maxLength(MAX_TOKEN_CHARS))),
    /** Subscribe to the server's "everyone online" directory (only where the server offers one). */
    presence: v.optional(v.boolean()),
    /** The `resumeToken` of this device's previous connection: its established calls carry on here. */
    resume: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{16,64}$/, 'must be a resume token'))),
    /**
     * Established calls to re-join on a server that no longer knows them (it restarted): each with this side's role
     * and a proof both sides derive from the call key (SHA256(key ‖ "mtcall-rejoin" ‖ callId)); the server re-creates
     * a call when the caller and the callee present the same proof. It learns nothing of the key.
     */
    rejoin: v.optional(v.pipe(v.array(v.strictObject({ callId: callIdSchema, role: v.picklist(['caller', 'callee']), proof: base64Bytes(32) })), v.maxLength(8))),
  }),
  /** Replaces the set of users whose presence this connection follows (its contacts). */
  v.strictObject({ type: v.literal('watch'), users: v.pipe(v.array(idSchema), v.maxLength(MAX_WATCH_PER_MESSAGE)) }),
  v.strictObject({ type: v.literal('getDhConfig'), version: v.pipe(v.number(), v.integer(), v.minValue(0)) }),
  v.strictObject({ type: v.literal('requestCall'), requestId: requestIdSchema, calleeId: idSchema, gAHash: base64Bytes(32), video: v.boolean() }),
  v.strictObject({ type: v.literal('acceptCall'), callId: callIdSchema, gB: base64Bytes(256) }),
  v.strictObject({ type: v.literal('confirmCall'), callId: callIdSchema, gA: base64Bytes(256), keyFingerprint: fingerprintSchema }),
  v.strictObject({ type: v.literal('discardCall'), callId: callIdSchema, reason: reasonSchema }),
  v.strictObject({ type: v.literal('signalingData'), callId: callIdSchema, data: base64Any(MAX_SIGNALING_DATA_BYTES) }),
]);

/** A message a client sends. */
export type ClientMessage = v.InferOutput<typeof clientMessageSchema>;

/** A user's presence: how many devices are online (0 = offline) and whether the user is in a call. */
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
  /**
   * `resumeToken`: present it in the next connection's `hello.resume` to carry established calls over a dropped
   * connection; `resumed`: the calls that `hello.resume` carried over.
   */
  | { type: 'welcome'; protocol: number; userId: string; deviceId: string; dhVersion: number; iceServers?: IceServerInfo[]; resumeToken?: string; resumed?: string[] }
  /** The current state of every user a subscription covers (sent once per `watch` / directory subscription). */
  | { type: 'presence'; users: PresenceEntry[]; truncated?: boolean }
  /** One user's presence changed (joined, left, busy, free): one message per change per subscriber. */
  | { type: 'presenceUpdate'; userId: string; devices: number; inCall: boolean }
  | { type: 'dhConfig'; version: number; p: string; g: number }
  | { type: 'dhConfigNotModified'; version: number }
  | { type: 'callRequested'; requestId: string; callId: string; devices: number }
  | { type: 'phoneCallRequested'; callId: string; callerId: string; gAHash: string; video: boolean }
  | { type: 'phoneCallAccepted'; callId: string; gB: string }
  | { type: 'phoneCall'; callId: string; gA: string; keyFingerprint: string }
  | { type: 'phoneCallDiscarded'; callId: string; reason: CallEndReason }
  /** Both sides re-joined an established call after a server restart: its in-call signaling flows again. */
  | { type: 'callRejoined'; callId: string }
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
    resumeToken: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{16,64}$/))),
    resumed: v.optional(v.pipe(v.array(callIdSchema), v.maxLength(64))),
  }),
  v.object({ type: v.literal('presence'), users: v.array(v.object({ userId: idSchema, devices: count, inCall: v.boolean() })), truncated: v.optional(v.boolean()) }),
  v.object({ type: v.literal('presenceUpdate'), userId: idSchema, devices: count, inCall: v.boolean() }),
  v.object({ type: v.literal('dhConfig'), version: v.pipe(v.number(), v.integer(), v.minValue(1)), p: base64Bytes(256), g: v.pipe(v.number(), v.integer()) }),
  v.object({ type: v.literal('dhConfigNotModified'), version: count }),
  v.object({ type: v.literal('callRequested'), requestId: requestIdSchema, callId: callIdSchema, devices: count }),
  v.object({ type: v.literal('phoneCallRequested'), callId: callIdSchema, callerId: idSchema, gAHash: base64Bytes(32), video: v.boolean() }),
  v.object({ type: v.literal('phoneCallAccepted'), callId: callIdSchema, gB: base64Bytes(256) }),
  v.object({ type: v.literal('phoneCall'), callId: callIdSchema, gA: base64Bytes(256), keyFingerprint: fingerprintSchema }),
  v.object({ type: v.literal('phoneCallDiscarded'), callId: callIdSchema, reason: reasonSchema }),
  v.object({ type: v.literal('callRejoined'), callId: callIdSchema }),
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

const CLIENT_TYPES = new Set(['hello', 'watch', 'getDhConfig', 'requestCall', 'acceptCall', 'confirmCall', 'discardCall', 'signalingData']);
const SERVER_TYPES = new Set(['welcome', 'presence', 'presenceUpdate', 'dhConfig', 'dhConfigNotModified', 'callRequested', 'phoneCallRequested', 'phoneCallAccepted', 'phoneCall', 'phoneCallDiscarded', 'callRejoined', 'signalingData', 'error']);

/** Parses and validates a frame a client sent. Never throws. */
export function parseClientMessage(text: string): ParseResult<ClientMessage> {
  return parseWith(clientMessageSchema, CLIENT_TYPES, text);
}

/** Parses and validates a frame the server sent. Never throws. */
export function parseServerMessage(text: string): ParseResult<ServerMessage> {
  return parseWith(serverMessageSchema as v.GenericSchema<unknown, ServerMessage>, SERVER_TYPES, text);
}
