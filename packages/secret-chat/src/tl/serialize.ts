/**
 * Serialization and parsing of the end-to-end objects of `schema.ts`. Writers throw RangeError/TypeError on values
 * TL cannot hold (a programming error); parsers never throw: they return `{ ok: false, error }` with a `TlError`.
 */

import { TlParseError, type TlError } from '../errors.js';
import { TlReader, TlWriter } from './codec.js';
import {
  CONSTRUCTOR_IDS,
  CONSTRUCTOR_NAMES,
  PLAIN_ENTITY_NAMES,
  type AnyDecryptedMessage,
  type ConstructorName,
  type DecryptedMessage,
  type DecryptedMessageAction,
  type DecryptedMessageLayer,
  type DecryptedMessageMedia,
  type DocumentAttribute,
  type MessageEntity,
} from './schema.js';

/** A parse result: the value, or why the bytes are not one. */
export type TlResult<T> = { ok: true; value: T } | { ok: false; error: TlError };

const PLAIN_ENTITIES: ReadonlySet<string> = new Set(PLAIN_ENTITY_NAMES);

// Flag bits of decryptedMessage#91cc4674.
const F_REPLY = 1 << 3;
const F_SILENT = 1 << 5;
const F_ENTITIES = 1 << 7;
const F_MEDIA = 1 << 9;
const F_VIA_BOT = 1 << 11;
const F_GROUPED = 1 << 17;
const MESSAGE_FLAGS = F_REPLY | F_SILENT | F_ENTITIES | F_MEDIA | F_VIA_BOT | F_GROUPED;
// documentAttributeAudio#9852f9c6: title 0, performer 1, waveform 2, voice 10; documentAttributeVideo66: round_message 0.
const AUDIO_FLAGS = 1 | 2 | 4 | (1 << 10);

// ---------------------------------------------------------------------------------------------------------------
// Writing

function writeId(w: TlWriter, name: ConstructorName): void {
  w.int(CONSTRUCTOR_IDS[name]);
}

function writeLongVector(w: TlWriter, values: readonly bigint[]): void {
  w.int(0x1cb5c415).signedInt(values.length);
  for (const v of values) w.long(v);
}

function writeEntity(w: TlWriter, e: MessageEntity): void {
  writeId(w, e._);
  w.signedInt(e.offset).signedInt(e.length);
  switch (e._) {
    case 'messageEntityPre':
      w.string(e.language);
      break;
    case 'messageEntityTextUrl':
      w.string(e.url);
      break;
    case 'messageEntityMentionName':
      w.signedInt(e.userId);
      break;
    case 'messageEntityCustomEmoji':
      w.long(e.documentId);
      break;
    default:
      break;
  }
}

function writeAttribute(w: TlWriter, a: DocumentAttribute): void {
  writeId(w, a._);
  switch (a._) {
    case 'documentAttributeImageSize':
      w.signedInt(a.w).signedInt(a.h);
      break;
    case 'documentAttributeAnimated':
      break;
    case 'documentAttributeFilename':
      w.string(a.fileName);
      break;
    case 'documentAttributeVideo66':
      w.int(a.roundMessage ? 1 : 0).signedInt(a.duration).signedInt(a.w).signedInt(a.h);
      break;
    case 'documentAttributeAudio': {
      const flags = (a.voice ? 1 << 10 : 0) | (a.title !== undefined ? 1 : 0) | (a.performer !== undefined ? 2 : 0) | (a.waveform !== undefined ? 4 : 0);
      w.int(flags).signedInt(a.duration);
      if (a.title !== undefined) w.string(a.title);
      if (a.performer !== undefined) w.string(a.performer);
      if (a.waveform !== undefined) w.bytes(a.waveform);
      break;
    }
  }
}

function writeMedia(w: TlWriter, m: DecryptedMessageMedia): void {
  writeId(w, m._);
  if (m._ === 'decryptedMessageMediaEmpty') return;
  w.bytes(m.thumb).signedInt(m.thumbW).signedInt(m.thumbH).string(m.mimeType);
  if (m._ === 'decryptedMessageMediaDocument') w.long(m.size);
  else {
    if (m.size < -0x80000000n || m.size > 0x7fffffffn) throw new RangeError('decryptedMessageMediaDocument46: size must fit an int (use the layer-143 constructor)');
    w.signedInt(Number(m.size));
  }
  w.bytes(m.key).bytes(m.iv);
  w.int(0x1cb5c415).signedInt(m.attributes.length);
  for (const a of m.attributes) writeAttribute(w, a);
  w.string(m.caption);
}

function writeAction(w: TlWriter, a: DecryptedMessageAction): void {
  writeId(w, a._);
  switch (a._) {
    case 'decryptedMessageActionSetMessageTTL':
      w.signedInt(a.ttlSeconds);
      break;
    case 'decryptedMessageActionReadMessages':
    case 'decryptedMessageActionDeleteMessages':
    case 'decryptedMessageActionScreenshotMessages':
      writeLongVector(w, a.randomIds);
      break;
    case 'decryptedMessageActionResend':
      w.signedInt(a.startSeqNo).signedInt(a.endSeqNo);
      break;
    case 'decryptedMessageActionNotifyLayer':
      w.signedInt(a.layer);
      break;
    case 'decryptedMessageActionRequestKey':
      w.long(a.exchangeId).bytes(a.gA);
      break;
    case 'decryptedMessageActionAcceptKey':
      w.long(a.exchangeId).bytes(a.gB).long(a.keyFingerprint);
      break;
    case 'decryptedMessageActionAbortKey':
      w.long(a.exchangeId);
      break;
    case 'decryptedMessageActionCommitKey':
      w.long(a.exchangeId).long(a.keyFingerprint);
      break;
    case 'decryptedMessageActionFlushHistory':
    case 'decryptedMessageActionNoop':
      break;
  }
}

function writeMessage(w: TlWriter, m: AnyDecryptedMessage): void {
  writeId(w, m._);
  switch (m._) {
    case 'decryptedMessage': {
      const flags =
        (m.silent ? F_SILENT : 0) |
        (m.media !== undefined ? F_MEDIA : 0) |
        (m.entities !== undefined ? F_ENTITIES : 0) |
        (m.viaBotName !== undefined ? F_VIA_BOT : 0) |
        (m.replyToRandomId !== undefined ? F_REPLY : 0) |
        (m.groupedId !== undefined ? F_GROUPED : 0);
      w.int(flags).long(m.randomId).signedInt(m.ttl).string(m.message);
      if (m.media !== undefined) writeMedia(w, m.media);
      if (m.entities !== undefined) {
        w.int(0x1cb5c415).signedInt(m.entities.length);
        for (const e of m.entities) writeEntity(w, e);
      }
      if (m.viaBotName !== undefined) w.string(m.viaBotName);
      if (m.replyToRandomId !== undefined) w.long(m.replyToRandomId);
      if (m.groupedId !== undefined) w.long(m.groupedId);
      break;
    }
    case 'decryptedMessageService':
      w.long(m.randomId);
      writeAction(w, m.action);
      break;
    case 'decryptedMessageService8':
      w.long(m.randomId).bytes(m.randomBytes);
      writeAction(w, m.action);
      break;
  }
}

/**
 * TL bytes of a `decryptedMessageLayer`.
 *
 * @throws RangeError / TypeError when a field cannot be represented (out-of-range int, long, oversized bytes)
 * @example
 * const bytes = serializeLayer({ _: 'decryptedMessageLayer', randomBytes, layer: 144, inSeqNo: 0, outSeqNo: 1, message });
 */
export function serializeLayer(layer: DecryptedMessageLayer): Uint8Array {
  const w = new TlWriter();
  writeId(w, 'decryptedMessageLayer');
  w.bytes(layer.randomBytes).signedInt(layer.layer).signedInt(layer.inSeqNo).signedInt(layer.outSeqNo);
  writeMessage(w, layer.message);
  return w.finish();
}

/** TL bytes of a message constructor on its own (as nested in a layer, or a bare `decryptedMessageService8`). */
export function serializeMessage(message: AnyDecryptedMessage): Uint8Array {
  const w = new TlWriter();
  writeMessage(w, message);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

function readId(r: TlReader, what: string, allowed: readonly ConstructorName[]): ConstructorName {
  const offset = r.offset;
  const id = r.uint(what);
  const name = CONSTRUCTOR_NAMES.get(id);
  if (name === undefined || !allowed.includes(name)) {
    throw new TlParseError('unknown-constructor', `TL: unknown ${what} constructor #${id.toString(16).padStart(8, '0')}`, offset, id);
  }
  return name;
}

function checkFlags(r: TlReader, flags: number, known: number, what: string): void {
  if ((flags & ~known) !== 0) throw new TlParseError('bad-flags', `TL: ${what} has unknown flag bits 0x${((flags & ~known) >>> 0).toString(16)}`, r.offset - 4);
}

function readLongVector(r: TlReader, what: string): bigint[] {
  const n = r.vectorCount(8, what);
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(r.long(what));
  return out;
}

const ENTITY_NAMES = [...PLAIN_ENTITY_NAMES, 'messageEntityPre', 'messageEntityTextUrl', 'messageEntityMentionName', 'messageEntityCustomEmoji'] as const;

function readEntity(r: TlReader): MessageEntity {
  const name = readId(r, 'MessageEntity', ENTITY_NAMES);
  const offset = r.int();
  const length = r.int();
  switch (name) {
    case 'messageEntityPre':
      return { _: name, offset, length, language: r.string('language') };
    case 'messageEntityTextUrl':
      return { _: name, offset, length, url: r.string('url') };
    case 'messageEntityMentionName':
      return { _: name, offset, length, userId: r.int() };
    case 'messageEntityCustomEmoji':
      return { _: name, offset, length, documentId: r.long() };
    default:
      if (!PLAIN_ENTITIES.has(name)) throw new TlParseError('unknown-constructor', `TL: ${name} is not an entity`, r.offset);
      return { _: name as (typeof PLAIN_ENTITY_NAMES)[number], offset, length };
  }
}

const ATTRIBUTE_NAMES = ['documentAttributeImageSize', 'documentAttributeAnimated', 'documentAttributeFilename', 'documentAttributeVideo66', 'documentAttributeAudio'] as const;

function readAttribute(r: TlReader): DocumentAttribute {
  const name = readId(r, 'DocumentAttribute', ATTRIBUTE_NAMES);
  switch (name) {
    case 'documentAttributeImageSize':
      return { _: name, w: r.int(), h: r.int() };
    case 'documentAttributeAnimated':
      return { _: name };
    case 'documentAttributeFilename':
      return { _: name, fileName: r.string('file_name') };
    case 'documentAttributeVideo66': {
      const flags = r.uint('flags');
      checkFlags(r, flags, 1, name);
      return { _: name, roundMessage: (flags & 1) !== 0, duration: r.int(), w: r.int(), h: r.int() };
    }
    default: {
      const flags = r.uint('flags');
      checkFlags(r, flags, AUDIO_FLAGS, name);
      const a: DocumentAttribute = { _: 'documentAttributeAudio', voice: (flags & (1 << 10)) !== 0, duration: r.int() };
      if (flags & 1) a.title = r.string('title');
      if (flags & 2) a.performer = r.string('performer');
      if (flags & 4) a.waveform = r.bytes('waveform');
      return a;
    }
  }
}

function readMedia(r: TlReader): DecryptedMessageMedia {
  const name = readId(r, 'DecryptedMessageMedia', ['decryptedMessageMediaEmpty', 'decryptedMessageMediaDocument', 'decryptedMessageMediaDocument46']);
  if (name === 'decryptedMessageMediaEmpty') return { _: name };
  const thumb = r.bytes('thumb');
  const thumbW = r.int();
  const thumbH = r.int();
  const mimeType = r.string('mime_type');
  const size = name === 'decryptedMessageMediaDocument' ? r.long('size') : BigInt(r.int('size'));
  const key = r.bytes('key');
  const iv = r.bytes('iv');
  const count = r.vectorCount(4, 'attributes');
  const attributes: DocumentAttribute[] = [];
  for (let i = 0; i < count; i++) attributes.push(readAttribute(r));
  const caption = r.string('caption');
  return { _: name as 'decryptedMessageMediaDocument' | 'decryptedMessageMediaDocument46', thumb, thumbW, thumbH, mimeType, size, key, iv, attributes, caption };
}

const ACTION_NAMES = [
  'decryptedMessageActionSetMessageTTL',
  'decryptedMessageActionReadMessages',
  'decryptedMessageActionDeleteMessages',
  'decryptedMessageActionScreenshotMessages',
  'decryptedMessageActionFlushHistory',
  'decryptedMessageActionResend',
  'decryptedMessageActionNotifyLayer',
  'decryptedMessageActionRequestKey',
  'decryptedMessageActionAcceptKey',
  'decryptedMessageActionAbortKey',
  'decryptedMessageActionCommitKey',
  'decryptedMessageActionNoop',
] as const;

function readAction(r: TlReader): DecryptedMessageAction {
  const name = readId(r, 'DecryptedMessageAction', ACTION_NAMES);
  switch (name) {
    case 'decryptedMessageActionSetMessageTTL':
      return { _: name, ttlSeconds: r.int() };
    case 'decryptedMessageActionReadMessages':
    case 'decryptedMessageActionDeleteMessages':
    case 'decryptedMessageActionScreenshotMessages':
      return { _: name, randomIds: readLongVector(r, 'random_ids') };
    case 'decryptedMessageActionResend':
      return { _: name, startSeqNo: r.int(), endSeqNo: r.int() };
    case 'decryptedMessageActionNotifyLayer':
      return { _: name, layer: r.int() };
    case 'decryptedMessageActionRequestKey':
      return { _: name, exchangeId: r.long(), gA: r.bytes('g_a') };
    case 'decryptedMessageActionAcceptKey':
      return { _: name, exchangeId: r.long(), gB: r.bytes('g_b'), keyFingerprint: r.long() };
    case 'decryptedMessageActionAbortKey':
      return { _: name, exchangeId: r.long() };
    case 'decryptedMessageActionCommitKey':
      return { _: name, exchangeId: r.long(), keyFingerprint: r.long() };
    default:
      return { _: name as 'decryptedMessageActionFlushHistory' | 'decryptedMessageActionNoop' };
  }
}

function readMessage(r: TlReader): AnyDecryptedMessage {
  const name = readId(r, 'DecryptedMessage', ['decryptedMessage', 'decryptedMessageService', 'decryptedMessageService8']);
  if (name === 'decryptedMessageService') return { _: name, randomId: r.long(), action: readAction(r) };
  if (name === 'decryptedMessageService8') return { _: name, randomId: r.long(), randomBytes: r.bytes('random_bytes'), action: readAction(r) };
  const flags = r.uint('flags');
  checkFlags(r, flags, MESSAGE_FLAGS, name);
  const m: DecryptedMessage = { _: 'decryptedMessage', silent: (flags & F_SILENT) !== 0, randomId: r.long('random_id'), ttl: r.int('ttl'), message: r.string('message') };
  if (flags & F_MEDIA) m.media = readMedia(r);
  if (flags & F_ENTITIES) {
    const n = r.vectorCount(12, 'entities');
    const entities: MessageEntity[] = [];
    for (let i = 0; i < n; i++) entities.push(readEntity(r));
    m.entities = entities;
  }
  if (flags & F_VIA_BOT) m.viaBotName = r.string('via_bot_name');
  if (flags & F_REPLY) m.replyToRandomId = r.long('reply_to_random_id');
  if (flags & F_GROUPED) m.groupedId = r.long('grouped_id');
  return m;
}

function guard<T>(bytes: Uint8Array, read: (r: TlReader) => T): TlResult<T> {
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: { code: 'truncated', message: 'TL: expected a Uint8Array', offset: 0 } };
  const r = new TlReader(bytes);
  try {
    const value = read(r);
    r.end();
    return { ok: true, value };
  } catch (error) {
    if (error instanceof TlParseError) return { ok: false, error: error.toTlError() };
    // Nothing else is thrown by the reader; stay total anyway.
    return { ok: false, error: { code: 'truncated', message: `TL: ${String(error)}`, offset: r.offset } };
  }
}

/** The header of a `decryptedMessageLayer` and its still-unparsed message, so seq numbers survive an unknown message. */
export interface LayerEnvelope {
  randomBytes: Uint8Array;
  layer: number;
  inSeqNo: number;
  outSeqNo: number;
  /** The message parsed, or why it could not be (e.g. a constructor of a newer layer). */
  message: TlResult<AnyDecryptedMessage>;
}

/**
 * Parses a `decryptedMessageLayer` envelope: fails only when the envelope itself (id, random bytes, layer, seq
 * numbers) is bad; a message it cannot read is reported inside, so the caller can still account for its seq number.
 * Never throws.
 */
export function parseLayerEnvelope(bytes: Uint8Array): TlResult<LayerEnvelope> {
  return guard(bytes, (r) => {
    readId(r, 'DecryptedMessageLayer', ['decryptedMessageLayer']);
    const randomBytes = r.bytes('random_bytes');
    const layer = r.int('layer');
    const inSeqNo = r.int('in_seq_no');
    const outSeqNo = r.int('out_seq_no');
    const rest = bytes.subarray(r.offset);
    const message = guard(rest, readMessage);
    if (!message.ok) message.error = { ...message.error, offset: message.error.offset + r.offset };
    r.skipRest(); // the message parser owned the rest
    return { randomBytes, layer, inSeqNo, outSeqNo, message };
  });
}

/** Parses a whole `decryptedMessageLayer`. Never throws. */
export function parseLayer(bytes: Uint8Array): TlResult<DecryptedMessageLayer> {
  const envelope = parseLayerEnvelope(bytes);
  if (!envelope.ok) return envelope;
  const { randomBytes, layer, inSeqNo, outSeqNo, message } = envelope.value;
  if (!message.ok) return message;
  return { ok: true, value: { _: 'decryptedMessageLayer', randomBytes, layer, inSeqNo, outSeqNo, message: message.value } };
}

/** Parses a message constructor on its own (e.g. a bare `decryptedMessageService8`). Never throws. */
export function parseMessage(bytes: Uint8Array): TlResult<AnyDecryptedMessage> {
  return guard(bytes, readMessage);
}
