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
  // Rooms (issue 13)
  'rooms-disabled', // this server was started without rooms (mtcall-signal --rooms)
  'room-full', // the room has as many members as the server allows (--room-size)
  'too-many-rooms', // the server has as many rooms as it allows
  'already-in-room', // this connection is in a room already (one room per connection)
  'not-in-room', // a room message for a room this connection is not in (or has not finished joining)
  'unknown-member', // no such member in the room
  'room-busy', // the previous request of this member is still being served by the SFU
  'room-lost', // the instance that held the room stopped or handed it over (cluster): join the room again
  'room-join-limit', // more room joins in a minute than the cluster allows one device (each costs a Redis claim)
  // The SFU's refusals, passed on with their own names (@mtcall/sfu SFU_ERROR_CODES)
  'unknown-transport', // no such transport of this member
  'unknown-producer', // no such producer (of this member, or in this room)
  'unknown-consumer', // no such consumer of this member
  'wrong-direction', // produce on a receive transport, or consume on a send transport
  'own-producer', // a member asked to consume its own producer
  'cannot-consume', // the receiver's RTP capabilities cannot decode the producer's codec
  'bad-parameters', // the SFU refused the DTLS or RTP parameters
  'too-many-transports', // more transports than the SFU allows one member
  'too-many-producers', // more producers than the SFU allows one member
  'too-many-consumers', // more consumers than the SFU allows one member
  'sfu-error', // the SFU failed (worker gone, closed, …)
  // Secret chats (issue 16)
  'unknown-chat', // no such secret chat (never created, discarded, or expired)
  'not-in-chat', // this device is not one of the chat's two ends
  'chat-wrong-state', // the chat is not in a state that allows this message (e.g. a second accept)
  'self-chat', // a user cannot open a secret chat with themselves
  'unknown-user', // the server has never seen a device of that user: nobody could receive the request
  'too-many-chats', // this user has as many open secret chats as the server allows
  'queue-full', // the recipient device's offline queue is full
  'unknown-file', // no such file in this chat, a part missing, or not the sender's own upload
  'file-too-large', // a part past the server's per-file cap
  'file-quota', // this user stores as many file bytes (or files) as the server allows
  'bad-qts', // a chatAck for an update the server never sent this device
  'chats-unavailable', // cluster: the instance that keeps secret chats (--chat-instance) is not running; nothing was stored
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

// ---- rooms (issue 13) ------------------------------------------------------------------------------------------

const roomIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1..64 of A-Z a-z 0-9 _ . -'));
/** A member of a room: a number the server gives each join, never reused in that room. */
const memberIdSchema = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(0xffff_ffff));
/** mediasoup object ids (UUIDs). */
const sfuIdSchema = v.pipe(v.string(), v.regex(/^[0-9a-f-]{1,64}$/, 'must be an SFU id'));
/** The stream a producer carries, as its sender names it; frames are bound to it. */
const sourceSchema = v.pipe(v.string(), v.regex(/^[a-z0-9-]{1,16}$/, 'must be 1..16 of a-z 0-9 -'));
const shortString = (max: number) => v.pipe(v.string(), v.maxLength(max));
const smallInt = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff_ffff));
const codecParameters = v.pipe(v.record(v.pipe(v.string(), v.maxLength(64)), v.union([shortString(256), v.number()])), v.check((o) => Object.keys(o).length <= 32, 'at most 32 parameters'));
const rtcpFeedbackSchema = v.object({ type: shortString(32), parameter: v.optional(shortString(32)) });
const rtpCodecSchema = v.object({
  mimeType: v.pipe(v.string(), v.regex(/^(audio|video)\/[A-Za-z0-9_.-]{1,32}$/, 'must be a MIME type')),
  payloadType: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(127)),
  clockRate: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000)),
  channels: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(8))),
  parameters: v.optional(codecParameters),
  rtcpFeedback: v.optional(v.pipe(v.array(rtcpFeedbackSchema), v.maxLength(16))),
});
const headerExtensionSchema = v.object({
  uri: shortString(256),
  id: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(255)),
  encrypt: v.optional(v.boolean()),
  parameters: v.optional(codecParameters),
});
const encodingSchema = v.object({
  ssrc: v.optional(smallInt),
  rid: v.optional(shortString(32)),
  codecPayloadType: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(127))),
  rtx: v.optional(v.object({ ssrc: smallInt })),
  dtx: v.optional(v.boolean()),
  scalabilityMode: v.optional(shortString(16)),
  scaleResolutionDownBy: v.optional(v.pipe(v.number(), v.minValue(1), v.maxValue(64))),
  maxBitrate: v.optional(v.pipe(v.number(), v.minValue(0))),
  maxFramerate: v.optional(v.pipe(v.number(), v.minValue(0))),
  adaptivePtime: v.optional(v.boolean()),
  priority: v.optional(v.picklist(['very-low', 'low', 'medium', 'high'])),
  networkPriority: v.optional(v.picklist(['very-low', 'low', 'medium', 'high'])),
  active: v.optional(v.boolean()),
});
/** A producer's RTP parameters (mediasoup-client's `produce`): checked for shape and size here, for sense by the SFU. */
const rtpParametersSchema = v.object({
  mid: v.optional(shortString(32)),
  codecs: v.pipe(v.array(rtpCodecSchema), v.minLength(1), v.maxLength(16)),
  headerExtensions: v.optional(v.pipe(v.array(headerExtensionSchema), v.maxLength(16))),
  encodings: v.optional(v.pipe(v.array(encodingSchema), v.maxLength(4))),
  rtcp: v.optional(v.object({ cname: v.optional(shortString(64)), reducedSize: v.optional(v.boolean()), mux: v.optional(v.boolean()) })),
});
/** A device's receive capabilities (`device.rtpCapabilities`). */
const rtpCapabilitiesSchema = v.object({
  codecs: v.optional(v.pipe(v.array(v.object({
    kind: v.picklist(['audio', 'video']),
    mimeType: rtpCodecSchema.entries.mimeType,
    preferredPayloadType: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(127))),
    clockRate: rtpCodecSchema.entries.clockRate,
    channels: rtpCodecSchema.entries.channels,
    parameters: v.optional(codecParameters),
    rtcpFeedback: v.optional(v.pipe(v.array(rtcpFeedbackSchema), v.maxLength(16))),
  })), v.maxLength(64))),
  headerExtensions: v.optional(v.pipe(v.array(v.object({
    kind: v.picklist(['audio', 'video']),
    uri: shortString(256),
    preferredId: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(255)),
    preferredEncrypt: v.optional(v.boolean()),
    direction: v.optional(v.picklist(['sendrecv', 'sendonly', 'recvonly', 'inactive'])),
  })), v.maxLength(32))),
});
const dtlsParametersSchema = v.object({
  role: v.optional(v.picklist(['auto', 'client', 'server'])),
  fingerprints: v.pipe(v.array(v.object({
    algorithm: v.picklist(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']),
    value: v.pipe(v.string(), v.regex(/^[0-9A-Fa-f:]{1,200}$/, 'must be a hex fingerprint')),
  })), v.minLength(1), v.maxLength(8)),
});
/** A pairwise key exchange inside a room: the three-message DH with one member (the distributor with each member). */
const roomPairSchema = v.strictObject({ roomId: roomIdSchema, memberId: memberIdSchema });
const roomCodeStepSchema = v.picklist(['commit', 'reveal']);

// ---- secret chats (issue 16) -----------------------------------------------------------------------------------

/** Largest encrypted secret-chat packet the server relays (`key_fingerprint ‖ msg_key ‖ data`). */
export const MAX_CHAT_MESSAGE_BYTES = 16 * 1024;
/** Largest part of an encrypted file (a multiple of 16: AES-IGE blocks; 32 KB keeps a frame under 64 KB). */
export const MAX_CHAT_FILE_PART_BYTES = 32 * 1024;
/** Parts one file may have in the protocol (the server's cap is usually lower). */
export const MAX_CHAT_FILE_PARTS = 100_000;
/** Base64 of at most `maxBytes` bytes, exactly (base64Any's length bound rounds up to whole 3-byte groups). */
const base64Upto = (maxBytes: number) => v.pipe(base64Any(maxBytes), v.check((s) => (base64ToBytes(s)?.length ?? Infinity) <= maxBytes, `must be at most ${maxBytes} bytes`));
const chatIdSchema = v.pipe(v.string(), v.regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits'));
const fileIdSchema = v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/, 'must be 16 lower-case hex digits'));
const filePartSchema = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_CHAT_FILE_PARTS - 1));
const qtsSchema = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(Number.MAX_SAFE_INTEGER));
/** Why a side discarded a chat (the secret-chat state machine's close reason, or `accepted-elsewhere`). */
const chatDiscardReasonSchema = v.pipe(v.string(), v.regex(/^[a-z-]{1,32}$/, 'must be 1..32 of a-z -'));
/** An encrypted file a message points to: uploaded by the sender in `parts` parts of this chat. */
const chatFileRefSchema = v.strictObject({
  fileId: fileIdSchema,
  parts: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_CHAT_FILE_PARTS)),
  /** The file key's fingerprint (md5(key ‖ iv), folded to 32 bits: inputEncryptedFileUploaded.key_fingerprint). */
  keyFingerprint: v.pipe(v.number(), v.integer(), v.minValue(-0x8000_0000), v.maxValue(0x7fff_ffff)),
});

/** What a device's queue holds: the server relays each to one device, numbered by that device's qts. */
export type ChatUpdate =
  | { kind: 'requested'; chatId: string; fromUserId: string; gA: string }
  | { kind: 'accepted'; chatId: string; gB: string; keyFingerprint: string }
  | { kind: 'discarded'; chatId: string; reason: string }
  | { kind: 'message'; chatId: string; data: string; file?: { fileId: string; parts: number; size: number; keyFingerprint: number } };

const chatUpdateSchema = v.variant('kind', [
  v.object({ kind: v.literal('requested'), chatId: chatIdSchema, fromUserId: idSchema, gA: base64Bytes(256) }),
  v.object({ kind: v.literal('accepted'), chatId: chatIdSchema, gB: base64Bytes(256), keyFingerprint: fingerprintSchema }),
  v.object({ kind: v.literal('discarded'), chatId: chatIdSchema, reason: chatDiscardReasonSchema }),
  v.object({
    kind: v.literal('message'), chatId: chatIdSchema, data: base64Upto(MAX_CHAT_MESSAGE_BYTES),
    file: v.optional(v.object({ fileId: fileIdSchema, parts: chatFileRefSchema.entries.parts, size: count, keyFingerprint: chatFileRefSchema.entries.keyFingerprint })),
  }),
]);

/** A member of a room as the server lists it. */
export interface RoomMemberInfo {
  memberId: number;
  userId: string;
  deviceId: string;
}

/** A stream someone in the room sends. `source`: the sender's name for it ('audio', 'video', 'screen'). */
export interface RoomProducerInfo {
  producerId: string;
  memberId: number;
  kind: 'audio' | 'video';
  source: string;
  /** Its sender paused it (microphone or camera off): nothing of it is forwarded until it resumes. */
  paused?: boolean;
}

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
  v.strictObject({
    type: v.literal('requestCall'), requestId: requestIdSchema, calleeId: idSchema, gAHash: base64Bytes(32), video: v.boolean(),
    /** A key exchange with one member of a room this device is in (rings that member's connection only). */
    room: v.optional(roomPairSchema),
  }),
  v.strictObject({ type: v.literal('acceptCall'), callId: callIdSchema, gB: base64Bytes(256) }),
  v.strictObject({ type: v.literal('confirmCall'), callId: callIdSchema, gA: base64Bytes(256), keyFingerprint: fingerprintSchema }),
  v.strictObject({ type: v.literal('discardCall'), callId: callIdSchema, reason: reasonSchema }),
  v.strictObject({ type: v.literal('signalingData'), callId: callIdSchema, data: base64Any(MAX_SIGNALING_DATA_BYTES) }),
  // Rooms: membership, the SFU's transports, producers and consumers, and the room code's commitments.
  v.strictObject({ type: v.literal('joinRoom'), requestId: requestIdSchema, roomId: roomIdSchema }),
  v.strictObject({ type: v.literal('leaveRoom'), roomId: roomIdSchema }),
  v.strictObject({ type: v.literal('createTransport'), requestId: requestIdSchema, roomId: roomIdSchema, direction: v.picklist(['send', 'recv']) }),
  v.strictObject({ type: v.literal('connectTransport'), requestId: requestIdSchema, roomId: roomIdSchema, transportId: sfuIdSchema, dtlsParameters: dtlsParametersSchema }),
  v.strictObject({
    type: v.literal('produce'), requestId: requestIdSchema, roomId: roomIdSchema, transportId: sfuIdSchema, kind: v.picklist(['audio', 'video']),
    rtpParameters: rtpParametersSchema, source: sourceSchema,
  }),
  v.strictObject({ type: v.literal('closeProducer'), roomId: roomIdSchema, producerId: sfuIdSchema }),
  /** Microphone or camera off (`paused: true`) or back on: the SFU stops or resumes forwarding the member's own producer. */
  v.strictObject({ type: v.literal('pauseProducer'), roomId: roomIdSchema, producerId: sfuIdSchema, paused: v.boolean() }),
  v.strictObject({
    type: v.literal('consume'), requestId: requestIdSchema, roomId: roomIdSchema, transportId: sfuIdSchema, producerId: sfuIdSchema,
    rtpCapabilities: rtpCapabilitiesSchema,
  }),
  v.strictObject({ type: v.literal('resumeConsumer'), requestId: requestIdSchema, roomId: roomIdSchema, consumerId: sfuIdSchema }),
  v.strictObject({ type: v.literal('requestKeyFrame'), roomId: roomIdSchema, consumerId: sfuIdSchema }),
  /** The room code's commit-before-reveal: SHA256 commitments to a fresh nonce, then the nonces (docs/GROUP-CALLS.md). */
  v.strictObject({ type: v.literal('roomCode'), roomId: roomIdSchema, epoch: smallInt, step: roomCodeStepSchema, value: base64Bytes(32) }),
  // Secret chats: the two-message DH (requestEncryption / acceptEncryption), discard, encrypted messages and files,
  // and the ack of the device's queue (messages.receivedQueue). The server sees g_a, g_b, the fingerprint and
  // ciphertext, never a key.
  v.strictObject({ type: v.literal('chatRequest'), requestId: requestIdSchema, userId: idSchema, gA: base64Bytes(256) }),
  v.strictObject({ type: v.literal('chatAccept'), chatId: chatIdSchema, gB: base64Bytes(256), keyFingerprint: fingerprintSchema }),
  v.strictObject({ type: v.literal('chatDiscard'), chatId: chatIdSchema, reason: chatDiscardReasonSchema }),
  v.strictObject({ type: v.literal('chatSend'), requestId: requestIdSchema, chatId: chatIdSchema, data: base64Upto(MAX_CHAT_MESSAGE_BYTES), file: v.optional(chatFileRefSchema) }),
  v.strictObject({ type: v.literal('chatUploadPart'), chatId: chatIdSchema, fileId: fileIdSchema, part: filePartSchema, data: base64Upto(MAX_CHAT_FILE_PART_BYTES) }),
  v.strictObject({ type: v.literal('chatGetFilePart'), chatId: chatIdSchema, fileId: fileIdSchema, part: filePartSchema }),
  /** Deletes this device's queued updates up to and including `qts`. */
  v.strictObject({ type: v.literal('chatAck'), qts: qtsSchema }),
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
  | {
      type: 'welcome'; protocol: number; userId: string; deviceId: string; dhVersion: number; iceServers?: IceServerInfo[]; resumeToken?: string; resumed?: string[];
      /** The room whose membership the resume carried over (`roomResumed` follows). */
      resumedRoom?: string;
    }
  /** The current state of every user a subscription covers (sent once per `watch` / directory subscription). */
  | { type: 'presence'; users: PresenceEntry[]; truncated?: boolean }
  /** One user's presence changed (joined, left, busy, free): one message per change per subscriber. */
  | { type: 'presenceUpdate'; userId: string; devices: number; inCall: boolean }
  | { type: 'dhConfig'; version: number; p: string; g: number }
  | { type: 'dhConfigNotModified'; version: number }
  | { type: 'callRequested'; requestId: string; callId: string; devices: number }
  | { type: 'phoneCallRequested'; callId: string; callerId: string; gAHash: string; video: boolean; room?: { roomId: string; memberId: number } }
  | { type: 'phoneCallAccepted'; callId: string; gB: string }
  | { type: 'phoneCall'; callId: string; gA: string; keyFingerprint: string }
  | { type: 'phoneCallDiscarded'; callId: string; reason: CallEndReason }
  /** Both sides re-joined an established call after a server restart: its in-call signaling flows again. */
  | { type: 'callRejoined'; callId: string }
  | { type: 'signalingData'; callId: string; data: string }
  | { type: 'error'; code: ServerErrorCode; message: string; requestId?: string; callId?: string; roomId?: string; chatId?: string }
  // Rooms
  | {
      type: 'roomJoined'; requestId: string; roomId: string; memberId: number; members: RoomMemberInfo[]; distributor: number;
      rtpCapabilities: unknown; producers: RoomProducerInfo[];
    }
  /** The room's members changed (someone joined or left): the whole list, and who distributes the group key now. */
  | { type: 'roomMembers'; roomId: string; members: RoomMemberInfo[]; distributor: number; joined?: number; left?: number }
  | { type: 'transportCreated'; requestId: string; roomId: string; transportId: string; iceParameters: unknown; iceCandidates: unknown[]; dtlsParameters: unknown }
  | { type: 'transportConnected'; requestId: string; roomId: string }
  | { type: 'produced'; requestId: string; roomId: string; producerId: string }
  | { type: 'consumed'; requestId: string; roomId: string; consumerId: string; producerId: string; kind: 'audio' | 'video'; rtpParameters: unknown }
  | { type: 'consumerResumed'; requestId: string; roomId: string; consumerId: string }
  | ({ type: 'producerAdded'; roomId: string } & RoomProducerInfo)
  | { type: 'producerRemoved'; roomId: string; producerId: string }
  /** This device's membership survived a dropped connection (it resumed in time): the room as it is now. */
  | { type: 'roomResumed'; roomId: string; memberId: number; members: RoomMemberInfo[]; distributor: number; producers: RoomProducerInfo[] }
  /** A member paused or resumed one of its producers (its microphone or camera went off or on). */
  | { type: 'producerPaused'; roomId: string; producerId: string; memberId: number; paused: boolean }
  | { type: 'roomCode'; roomId: string; from: number; epoch: number; step: 'commit' | 'reveal'; value: string }
  // Secret chats
  /** One update of this device's queue; ack it (with every earlier one) with `chatAck`. */
  | { type: 'chatUpdate'; qts: number; update: ChatUpdate }
  | { type: 'chatCreated'; requestId: string; chatId: string }
  /** The server stored the message for the other device (`date`: its clock, ms). */
  | { type: 'chatSent'; requestId: string; chatId: string; date: number }
  | { type: 'chatPartSaved'; chatId: string; fileId: string; part: number }
  | { type: 'chatFilePart'; chatId: string; fileId: string; part: number; data: string };

const iceServerSchema = v.object({
  urls: v.pipe(v.array(v.pipe(v.string(), v.maxLength(512), v.regex(/^(stun|stuns|turn|turns):/))), v.minLength(1), v.maxLength(8)),
  username: v.optional(v.pipe(v.string(), v.maxLength(512))),
  credential: v.optional(v.pipe(v.string(), v.maxLength(512))),
});

const roomMembersSchema = v.pipe(v.array(v.object({ memberId: memberIdSchema, userId: idSchema, deviceId: idSchema })), v.maxLength(1024));
const roomProducerSchema = v.object({
  producerId: sfuIdSchema, memberId: memberIdSchema, kind: v.picklist(['audio', 'video']), source: sourceSchema, paused: v.optional(v.boolean()),
});

/** Schema of server messages, for clients (a client validates what it receives too). */
export const serverMessageSchema = v.variant('type', [
  v.object({
    type: v.literal('welcome'), protocol: count, userId: idSchema, deviceId: idSchema, dhVersion: count,
    iceServers: v.optional(v.pipe(v.array(iceServerSchema), v.maxLength(8))),
    resumeToken: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{16,64}$/))),
    resumed: v.optional(v.pipe(v.array(callIdSchema), v.maxLength(64))),
    resumedRoom: v.optional(roomIdSchema),
  }),
  v.object({ type: v.literal('presence'), users: v.array(v.object({ userId: idSchema, devices: count, inCall: v.boolean() })), truncated: v.optional(v.boolean()) }),
  v.object({ type: v.literal('presenceUpdate'), userId: idSchema, devices: count, inCall: v.boolean() }),
  v.object({ type: v.literal('dhConfig'), version: v.pipe(v.number(), v.integer(), v.minValue(1)), p: base64Bytes(256), g: v.pipe(v.number(), v.integer()) }),
  v.object({ type: v.literal('dhConfigNotModified'), version: count }),
  v.object({ type: v.literal('callRequested'), requestId: requestIdSchema, callId: callIdSchema, devices: count }),
  v.object({ type: v.literal('phoneCallRequested'), callId: callIdSchema, callerId: idSchema, gAHash: base64Bytes(32), video: v.boolean(), room: v.optional(roomPairSchema) }),
  v.object({ type: v.literal('phoneCallAccepted'), callId: callIdSchema, gB: base64Bytes(256) }),
  v.object({ type: v.literal('phoneCall'), callId: callIdSchema, gA: base64Bytes(256), keyFingerprint: fingerprintSchema }),
  v.object({ type: v.literal('phoneCallDiscarded'), callId: callIdSchema, reason: reasonSchema }),
  v.object({ type: v.literal('callRejoined'), callId: callIdSchema }),
  v.object({ type: v.literal('signalingData'), callId: callIdSchema, data: base64Any(MAX_SIGNALING_DATA_BYTES) }),
  v.object({ type: v.literal('error'), code: v.string(), message: v.string(), requestId: v.optional(v.string()), callId: v.optional(v.string()), roomId: v.optional(v.string()), chatId: v.optional(v.string()) }),
  v.object({
    type: v.literal('roomJoined'), requestId: requestIdSchema, roomId: roomIdSchema, memberId: memberIdSchema, members: roomMembersSchema,
    distributor: memberIdSchema, rtpCapabilities: v.unknown(), producers: v.pipe(v.array(roomProducerSchema), v.maxLength(256)),
  }),
  v.object({
    type: v.literal('roomMembers'), roomId: roomIdSchema, members: roomMembersSchema, distributor: memberIdSchema,
    joined: v.optional(memberIdSchema), left: v.optional(memberIdSchema),
  }),
  v.object({
    type: v.literal('transportCreated'), requestId: requestIdSchema, roomId: roomIdSchema, transportId: sfuIdSchema, iceParameters: v.unknown(),
    iceCandidates: v.pipe(v.array(v.unknown()), v.maxLength(16)), dtlsParameters: v.unknown(),
  }),
  v.object({ type: v.literal('transportConnected'), requestId: requestIdSchema, roomId: roomIdSchema }),
  v.object({ type: v.literal('produced'), requestId: requestIdSchema, roomId: roomIdSchema, producerId: sfuIdSchema }),
  v.object({
    type: v.literal('consumed'), requestId: requestIdSchema, roomId: roomIdSchema, consumerId: sfuIdSchema, producerId: sfuIdSchema,
    kind: v.picklist(['audio', 'video']), rtpParameters: v.unknown(),
  }),
  v.object({ type: v.literal('consumerResumed'), requestId: requestIdSchema, roomId: roomIdSchema, consumerId: sfuIdSchema }),
  v.object({ type: v.literal('producerAdded'), roomId: roomIdSchema, ...roomProducerSchema.entries }),
  v.object({ type: v.literal('producerRemoved'), roomId: roomIdSchema, producerId: sfuIdSchema }),
  v.object({
    type: v.literal('roomResumed'), roomId: roomIdSchema, memberId: memberIdSchema, members: roomMembersSchema, distributor: memberIdSchema,
    producers: v.pipe(v.array(roomProducerSchema), v.maxLength(256)),
  }),
  v.object({ type: v.literal('producerPaused'), roomId: roomIdSchema, producerId: sfuIdSchema, memberId: memberIdSchema, paused: v.boolean() }),
  v.object({ type: v.literal('roomCode'), roomId: roomIdSchema, from: memberIdSchema, epoch: smallInt, step: roomCodeStepSchema, value: base64Bytes(32) }),
  v.object({ type: v.literal('chatUpdate'), qts: qtsSchema, update: chatUpdateSchema }),
  v.object({ type: v.literal('chatCreated'), requestId: requestIdSchema, chatId: chatIdSchema }),
  v.object({ type: v.literal('chatSent'), requestId: requestIdSchema, chatId: chatIdSchema, date: count }),
  v.object({ type: v.literal('chatPartSaved'), chatId: chatIdSchema, fileId: fileIdSchema, part: filePartSchema }),
  v.object({ type: v.literal('chatFilePart'), chatId: chatIdSchema, fileId: fileIdSchema, part: filePartSchema, data: base64Upto(MAX_CHAT_FILE_PART_BYTES) }),
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

/** Types of the room messages a server sends (a client hands them to its room session). */
export const ROOM_SERVER_MESSAGE_TYPES = [
  'roomJoined', 'roomMembers', 'transportCreated', 'transportConnected', 'produced', 'consumed', 'consumerResumed', 'producerAdded', 'producerRemoved', 'producerPaused', 'roomResumed', 'roomCode',
] as const;

/** Types of the secret-chat messages a server sends (a client hands them to its chats). */
export const CHAT_SERVER_MESSAGE_TYPES = ['chatUpdate', 'chatCreated', 'chatSent', 'chatPartSaved', 'chatFilePart'] as const;

/** A secret-chat message a server sends. */
export type ChatServerMessage = Extract<ServerMessage, { type: (typeof CHAT_SERVER_MESSAGE_TYPES)[number] }>;

/** A room message a server sends. */
export type RoomServerMessage = Extract<ServerMessage, { type: (typeof ROOM_SERVER_MESSAGE_TYPES)[number] }>;

const CLIENT_TYPES = new Set(clientMessageSchema.options.map((o) => o.entries.type.literal));
const SERVER_TYPES = new Set(serverMessageSchema.options.map((o) => o.entries.type.literal));

/** Parses and validates a frame a client sent. Never throws. */
export function parseClientMessage(text: string): ParseResult<ClientMessage> {
  return parseWith(clientMessageSchema, CLIENT_TYPES, text);
}

/** Parses and validates a frame the server sent. Never throws. */
export function parseServerMessage(text: string): ParseResult<ServerMessage> {
  return parseWith(serverMessageSchema as v.GenericSchema<unknown, ServerMessage>, SERVER_TYPES, text);
}
