#!/usr/bin/env python3
"""Independent known-answer vectors for @mtcall/crypto.

Written from the spec text alone (../../../../shared/seeds/002_*.txt), with Python's hashlib for SHA-256/SHA-1,
Python's pow() for modular exponentiation, and the `openssl enc -aes-256-ctr` command for AES-CTR:
no code shared with the TypeScript implementation. Regenerate with `python3 generate.py > vectors.json`.
"""
import hashlib, json, subprocess

def expand(seed: bytes, n: int) -> bytes:
    out = b''
    i = 0
    while len(out) < n:
        out += hashlib.sha256(seed + i.to_bytes(4, 'big')).digest()
        i += 1
    return out[:n]

def aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    if not data:
        return b''
    return subprocess.run(['openssl', 'enc', '-aes-256-ctr', '-K', key.hex(), '-iv', iv.hex(), '-nosalt', '-nopad'],
                          input=data, capture_output=True, check=True).stdout

def kdf(key: bytes, msg_key: bytes, x: int):
    a = hashlib.sha256(msg_key + key[x:x + 36]).digest()
    b = hashlib.sha256(key[40 + x:40 + x + 36] + msg_key).digest()
    aes_key = a[0:8] + b[8:24] + a[24:32]
    aes_iv = b[0:4] + a[8:16] + b[24:28]
    return aes_key, aes_iv

packets = []
key = expand(b'mtcall test key', 256)
for x in (0, 8, 128, 136):
    for n in (0, 1, 15, 16, 17, 100, 1500):
        body = expand(b'body %d %d' % (x, n), n)
        msg_key = hashlib.sha256(key[88 + x:88 + x + 32] + body).digest()[8:24]
        aes_key, aes_iv = kdf(key, msg_key, x)
        packets.append({'x': x, 'body': body.hex(), 'msgKey': msg_key.hex(), 'aesKey': aes_key.hex(),
                        'aesIv': aes_iv.hex(), 'packet': (msg_key + aes_ctr(aes_key, aes_iv, body)).hex()})

def fingerprint(k: bytes) -> int:
    return int.from_bytes(hashlib.sha1(k).digest()[12:20], 'little', signed=True)

def emoji_indices(k: bytes, g_a: bytes):
    h = hashlib.sha256(k + g_a).digest()
    return [(int.from_bytes(h[8 * i:8 * i + 8], 'big') & 0x7FFFFFFFFFFFFFFF) % 333 for i in range(4)]

fingerprints = []
for seed in (b'fp0', b'fp1', b'fp2'):
    k = expand(seed, 256)
    g_a = expand(seed + b' g_a', 256)
    fingerprints.append({'key': k.hex(), 'gA': g_a.hex(), 'keyFingerprint': str(fingerprint(k)),
                         'emojiIndices': emoji_indices(k, g_a)})
# The worked example from the research note (key = 00..ff, g_a = ff..00).
k = bytes(range(256)); g_a = bytes(range(255, -1, -1))
fingerprints.append({'key': k.hex(), 'gA': g_a.hex(), 'keyFingerprint': str(fingerprint(k)), 'emojiIndices': emoji_indices(k, g_a)})

P = int('c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f48198a0aa7c14058229493d22530f4db'
        'fa336f6e0ac925139543aed44cce7c3720fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64'
        '2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4a4a695811051907e162753b56b0f6b41'
        '0dba74d8a84b2a14b3144e0ef1284754fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4'
        'e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f0d8115f635b105ee2e4e15d04b2454bf'
        '6f4fadf034b10403119cd8e3b92fcc5b', 16)
G = 3
a = int.from_bytes(expand(b'dh a', 256), 'big') % (P - 3) + 2
b = int.from_bytes(expand(b'dh b', 256), 'big') % (P - 3) + 2
g_a = pow(G, a, P); g_b = pow(G, b, P); shared = pow(g_b, a, P)
assert shared == pow(g_a, b, P)
dh = {'p': P.to_bytes(256, 'big').hex(), 'g': G, 'a': a.to_bytes(256, 'big').hex(), 'b': b.to_bytes(256, 'big').hex(),
      'gA': g_a.to_bytes(256, 'big').hex(), 'gB': g_b.to_bytes(256, 'big').hex(), 'key': shared.to_bytes(256, 'big').hex(),
      'keyFingerprint': str(fingerprint(shared.to_bytes(256, 'big'))),
      'emojiIndices': emoji_indices(shared.to_bytes(256, 'big'), g_a.to_bytes(256, 'big'))}

# A sealed packet with the framing of src/framing.ts: seq (uint32 BE) + LEB128 length + data, per message.
def leb128(n):
    out = b''
    while n >= 0x80:
        out += bytes([(n & 0x7f) | 0x80]); n >>= 7
    return out + bytes([n])
framed = []
for (x, msgs) in ((0, [(1, b'hello')]), (8, [(7, b''), (3, b'resent'), (4, expand(b'big', 300))])):
    body = b''.join(s.to_bytes(4, 'big') + leb128(len(d)) + d for s, d in msgs)
    msg_key = hashlib.sha256(key[88 + x:88 + x + 32] + body).digest()[8:24]
    aes_key, aes_iv = kdf(key, msg_key, x)
    framed.append({'x': x, 'messages': [{'seq': s, 'data': d.hex()} for s, d in msgs], 'body': body.hex(),
                   'packet': (msg_key + aes_ctr(aes_key, aes_iv, body)).hex()})

print(json.dumps({'generatedBy': 'test-vectors/generate.py (hashlib + openssl enc + pow)', 'key': key.hex(),
                  'packets': packets, 'fingerprints': fingerprints, 'dh': dh, 'framed': framed}, indent=1))
