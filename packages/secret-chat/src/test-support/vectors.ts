/** Loads the independent known-answer vectors (test-vectors/vectors.json, made by generate.py) and revives their objects. */
import { readFileSync } from 'node:fs';
import { hexToBytes } from '@mtcall/crypto';

interface RawVectors {
  constructorIds: Record<string, string>;
  key: string;
  keyFingerprint: string;
  keyFingerprintBytes: string;
  visualization: string;
  ige: { key: string; iv: string; plaintext: string; ciphertext: string }[];
  kdf: { x: 0 | 8; msgKey: string; aesKey: string; aesIv: string }[];
  messages: { object: string; x: 0 | 8; tl: string; padding: string; msgKey: string; aesKey: string; aesIv: string; packet: string }[];
  tl: { name: string; object: unknown; hex: string }[];
  files: { key: string; iv: string; fingerprint: number; data?: string; partSize?: number; parts?: string[] }[];
}

export const vectors: RawVectors = JSON.parse(readFileSync(new URL('../../test-vectors/vectors.json', import.meta.url), 'utf8'));
export const hex = hexToBytes;

/** Turns the vectors' JSON objects into values: {"hex"} → Uint8Array, {"long"} → bigint. */
export function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.hex === 'string' && Object.keys(o).length === 1) return hexToBytes(o.hex);
    if (typeof o.long === 'string' && Object.keys(o).length === 1) return BigInt(o.long);
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, revive(v)]));
  }
  return value;
}
