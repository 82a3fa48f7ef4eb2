/**
 * The part of Telegram's end-to-end TL schema this package speaks: the layer wrapper, messages and service
 * messages, the re-keying and seq actions, document media (which carries a file's key and IV) and message
 * entities. Constructor ids are those of the public schema — core.telegram.org/schema/end-to-end, the same lines as
 * tdlib/td `td/generate/scheme/secret_api.tl` — and `test-vectors/generate.py` recomputes each one as the CRC32 of
 * its schema line. Objects are plain data discriminated by `_` (the constructor's name).
 */

/** Constructor ids of the end-to-end schema (uint32), by constructor name; the layer that introduced each in comments. */
export const CONSTRUCTOR_IDS = {
  decryptedMessageLayer: 0x1be31789, // layer 17
  decryptedMessage: 0x91cc4674, // layer 73 (flags: silent 5, media 9, entities 7, via_bot_name 11, reply_to_random_id 3, grouped_id 17)
  decryptedMessageService: 0x73164160, // layer 17
  decryptedMessageService8: 0xaa48327d, // layer 8: how a NotifyLayer reaches an old client
  decryptedMessageMediaEmpty: 0x089f5c4a,
  decryptedMessageMediaDocument: 0x6abd9782, // layer 143: size is a long
  decryptedMessageMediaDocument46: 0x7afe8ae2, // layer 46: size is an int
  documentAttributeImageSize: 0x6c37c15c,
  documentAttributeAnimated: 0x11b58939,
  documentAttributeFilename: 0x15590068,
  documentAttributeVideo66: 0x0ef02ce6, // layer 66
  documentAttributeAudio: 0x9852f9c6, // layer 46
  decryptedMessageActionSetMessageTTL: 0xa1733aec,
  decryptedMessageActionReadMessages: 0x0c4f40be,
  decryptedMessageActionDeleteMessages: 0x65614304,
  decryptedMessageActionScreenshotMessages: 0x8ac1f475,
  decryptedMessageActionFlushHistory: 0x6719e45c,
  decryptedMessageActionResend: 0x511110b0,
  decryptedMessageActionNotifyLayer: 0xf3048883,
  decryptedMessageActionRequestKey: 0xf3c9611b,
  decryptedMessageActionAcceptKey: 0x6fe1735b,
  decryptedMessageActionAbortKey: 0xdd05ec6b,
  decryptedMessageActionCommitKey: 0xec2e0b9b,
  decryptedMessageActionNoop: 0xa82fdd63,
  messageEntityUnknown: 0xbb92ba95,
  messageEntityMention: 0xfa04579d,
  messageEntityHashtag: 0x6f635b0d,
  messageEntityBotCommand: 0x6cef8ac7,
  messageEntityUrl: 0x6ed02538,
  messageEntityEmail: 0x64e475c2,
  messageEntityBold: 0xbd610bc9,
  messageEntityItalic: 0x826f8b60,
  messageEntityCode: 0x28a20571,
  messageEntityPre: 0x73924be0,
  messageEntityTextUrl: 0x76a6d327,
  messageEntityMentionName: 0x352dca58,
  messageEntityPhone: 0x9b69e34b,
  messageEntityCashtag: 0x4c4e743f,
  messageEntityUnderline: 0x9c4e7e8b, // layer 101
  messageEntityStrike: 0xbf0693d4, // layer 101
  messageEntityBlockquote: 0x020df5d0, // layer 101
  messageEntitySpoiler: 0x32ca960f, // layer 144
  messageEntityCustomEmoji: 0xc8cf05f8, // layer 144
} as const;

/** A constructor name of `CONSTRUCTOR_IDS`. */
export type ConstructorName = keyof typeof CONSTRUCTOR_IDS;

/** The layer this implementation speaks (its newest constructors are layer 143/144's), announced with NotifyLayer. */
export const SECRET_CHAT_LAYER = 144;
/** The lowest layer this implementation accepts: MTProto 2.0 is mandatory from layer 73 (no MTProto 1.0 here). */
export const MIN_SECRET_CHAT_LAYER = 73;
/** The remote layer assumed when a secret chat is created, before any notification (the seed: "initialized to 46"). */
export const INITIAL_REMOTE_LAYER = 46;
/** The first layer with `decryptedMessageMediaDocument#6abd9782` (a long size). */
export const BIG_FILES_LAYER = 143;

/** The envelope of every message since layer 17: random bytes against content recognition, the sender's layer, seq numbers. */
export interface DecryptedMessageLayer {
  _: 'decryptedMessageLayer';
  /** At least 15 random bytes (receivers must ignore messages with fewer). */
  randomBytes: Uint8Array;
  layer: number;
  /** 2 × the sender's raw in count + parity, as sent (see `seq.ts`). */
  inSeqNo: number;
  /** 2 × the sender's raw out count + parity, as sent. */
  outSeqNo: number;
  message: AnyDecryptedMessage;
}

/** `decryptedMessage#91cc4674`: a user message. Optional fields are absent when their flag is clear. */
export interface DecryptedMessage {
  _: 'decryptedMessage';
  silent: boolean;
  randomId: bigint;
  ttl: number;
  message: string;
  media?: DecryptedMessageMedia;
  entities?: MessageEntity[];
  viaBotName?: string;
  replyToRandomId?: bigint;
  groupedId?: bigint;
}

/** `decryptedMessageService#73164160`: a service message (an action). */
export interface DecryptedMessageService {
  _: 'decryptedMessageService';
  randomId: bigint;
  action: DecryptedMessageAction;
}

/** `decryptedMessageService#aa48327d` of layer 8, outside any layer wrapper: only read, to learn a NotifyLayer. */
export interface DecryptedMessageService8 {
  _: 'decryptedMessageService8';
  randomId: bigint;
  randomBytes: Uint8Array;
  action: DecryptedMessageAction;
}

/** Any DecryptedMessage constructor. */
export type AnyDecryptedMessage = DecryptedMessage | DecryptedMessageService | DecryptedMessageService8;

/** `decryptedMessageMediaEmpty`. */
export interface DecryptedMessageMediaEmpty {
  _: 'decryptedMessageMediaEmpty';
}

/**
 * A document (any file) sent in the chat: the key and IV that decrypt it (`files.ts`) travel here. `size` is the
 * plaintext size; the layer-143 constructor carries it as a long, the layer-46 one as an int.
 */
export interface DecryptedMessageMediaDocument {
  _: 'decryptedMessageMediaDocument' | 'decryptedMessageMediaDocument46';
  thumb: Uint8Array;
  thumbW: number;
  thumbH: number;
  mimeType: string;
  size: bigint;
  /** The file's one-time 32-byte AES key. */
  key: Uint8Array;
  /** The file's 32-byte IGE IV. */
  iv: Uint8Array;
  attributes: DocumentAttribute[];
  caption: string;
}

/** The media constructors this implementation reads and writes. */
export type DecryptedMessageMedia = DecryptedMessageMediaEmpty | DecryptedMessageMediaDocument;

/** Document attributes read and written here. */
export type DocumentAttribute =
  | { _: 'documentAttributeImageSize'; w: number; h: number }
  | { _: 'documentAttributeAnimated' }
  | { _: 'documentAttributeFilename'; fileName: string }
  | { _: 'documentAttributeVideo66'; roundMessage: boolean; duration: number; w: number; h: number }
  | { _: 'documentAttributeAudio'; voice: boolean; duration: number; title?: string; performer?: string; waveform?: Uint8Array };

/** Service actions read and written here. */
export type DecryptedMessageAction =
  | { _: 'decryptedMessageActionSetMessageTTL'; ttlSeconds: number }
  | { _: 'decryptedMessageActionReadMessages'; randomIds: bigint[] }
  | { _: 'decryptedMessageActionDeleteMessages'; randomIds: bigint[] }
  | { _: 'decryptedMessageActionScreenshotMessages'; randomIds: bigint[] }
  | { _: 'decryptedMessageActionFlushHistory' }
  | { _: 'decryptedMessageActionResend'; startSeqNo: number; endSeqNo: number }
  | { _: 'decryptedMessageActionNotifyLayer'; layer: number }
  | { _: 'decryptedMessageActionRequestKey'; exchangeId: bigint; gA: Uint8Array }
  | { _: 'decryptedMessageActionAcceptKey'; exchangeId: bigint; gB: Uint8Array; keyFingerprint: bigint }
  | { _: 'decryptedMessageActionAbortKey'; exchangeId: bigint }
  | { _: 'decryptedMessageActionCommitKey'; exchangeId: bigint; keyFingerprint: bigint }
  | { _: 'decryptedMessageActionNoop' };

/** Entities with only offset and length. */
export const PLAIN_ENTITY_NAMES = [
  'messageEntityUnknown',
  'messageEntityMention',
  'messageEntityHashtag',
  'messageEntityBotCommand',
  'messageEntityUrl',
  'messageEntityEmail',
  'messageEntityBold',
  'messageEntityItalic',
  'messageEntityCode',
  'messageEntityPhone',
  'messageEntityCashtag',
  'messageEntityUnderline',
  'messageEntityStrike',
  'messageEntityBlockquote',
  'messageEntitySpoiler',
] as const;

/** A formatting entity of a message's text. */
export type MessageEntity =
  | { _: (typeof PLAIN_ENTITY_NAMES)[number]; offset: number; length: number }
  | { _: 'messageEntityPre'; offset: number; length: number; language: string }
  | { _: 'messageEntityTextUrl'; offset: number; length: number; url: string }
  | { _: 'messageEntityMentionName'; offset: number; length: number; userId: number }
  | { _: 'messageEntityCustomEmoji'; offset: number; length: number; documentId: bigint };

/** Any object of this schema. */
export type TlObject = DecryptedMessageLayer | AnyDecryptedMessage | DecryptedMessageMedia | DocumentAttribute | DecryptedMessageAction | MessageEntity;

/** Constructor name by id, for the reader. */
export const CONSTRUCTOR_NAMES: ReadonlyMap<number, ConstructorName> = new Map(
  (Object.entries(CONSTRUCTOR_IDS) as [ConstructorName, number][]).map(([name, id]) => [id, name]),
);
