/** Loads the independent known-answer vectors (test-vectors/vectors.json, made by generate.py). */
import { readFileSync } from 'node:fs';
import { hexToBytes } from '../bytes.js';

interface RawVectors {
  key: string;
  packets: { x: number; body: string; msgKey: string; aesKey: string; aesIv: string; packet: string }[];
  fingerprints: { key: string; gA: string; keyFingerprint: string; emojiIndices: number[] }[];
  dh: { p: string; g: number; a: string; b: string; gA: string; gB: string; key: string; keyFingerprint: string; emojiIndices: number[] };
  framed: { x: number; messages: { seq: number; data: string }[]; body: string; packet: string }[];
}

export const vectors: RawVectors = JSON.parse(readFileSync(new URL('../../test-vectors/vectors.json', import.meta.url), 'utf8'));
export const hex = hexToBytes;
