#!/usr/bin/env python3
"""Independent known-answer vectors for the room (group call) cryptography of @mtcall/crypto (src/room.ts).

Written from docs/GROUP-CALLS.md alone with Python's hmac and hashlib (HKDF composed by hand from RFC 5869): no code
shared with the TypeScript implementation. Regenerate with `python3 room.py > room-vectors.json`.
"""
import hashlib, hmac, json

def expand(seed: bytes, n: int) -> bytes:
    out = b''
    i = 0
    while len(out) < n:
        out += hashlib.sha256(seed + i.to_bytes(4, 'big')).digest()
        i += 1
    return out[:n]

def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    out, block, i = b'', b'', 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]

u32 = lambda v: v.to_bytes(4, 'big')
lp = lambda s: bytes([len(s.encode())]) + s.encode()

def sender_key(secret, room, epoch, sender):
    return hkdf(secret, b'mtcall room v1', b'sender key' + u32(epoch) + u32(sender) + lp(room), 256)

def pair_hash(key, g_a):
    return hashlib.sha256(b'mtcall room pair v1' + key + g_a).digest()

def transcript(room, epoch, distributor, members):
    out = b'mtcall room transcript v1' + lp(room) + u32(epoch) + u32(distributor) + bytes([len(members)])
    for m in sorted(members, key=lambda m: m['memberId']):
        out += u32(m['memberId']) + lp(m['userId']) + lp(m['deviceId']) + bytes.fromhex(m['pairHash'])
    return out

def commitment(room, epoch, member, nonce):
    return hashlib.sha256(b'mtcall room commit v1' + lp(room) + u32(epoch) + u32(member) + nonce).digest()

def code_hash(t_bytes, nonces):
    return hashlib.sha256(b'mtcall room code v1' + hashlib.sha256(t_bytes).digest() + b''.join(nonces[k] for k in sorted(nonces))).digest()

def emoji_indices(h):
    return [(int.from_bytes(h[8 * i:8 * i + 8], 'big') & 0x7FFFFFFFFFFFFFFF) % 333 for i in range(4)]

# RFC 4231 test case 2 and RFC 5869 test case 1 (published values, recomputed here).
hmac_vectors = [
    {'key': b'Jefe'.hex(), 'data': b'what do ya want for nothing?'.hex(), 'mac': hmac.new(b'Jefe', b'what do ya want for nothing?', hashlib.sha256).hexdigest()},
    {'key': (b'\xaa' * 131).hex(), 'data': b'Test Using Larger Than Block-Size Key - Hash Key First'.hex(),
     'mac': hmac.new(b'\xaa' * 131, b'Test Using Larger Than Block-Size Key - Hash Key First', hashlib.sha256).hexdigest()},
]
rfc_ikm, rfc_salt, rfc_info = bytes([0x0b] * 22), bytes(range(13)), bytes(range(0xf0, 0xfa))
hkdf_vectors = [
    {'ikm': rfc_ikm.hex(), 'salt': rfc_salt.hex(), 'info': rfc_info.hex(), 'length': 42, 'okm': hkdf(rfc_ikm, rfc_salt, rfc_info, 42).hex()},
    {'ikm': rfc_ikm.hex(), 'salt': '', 'info': '', 'length': 42, 'okm': hkdf(rfc_ikm, b'', b'', 42).hex()},
]

sender_keys = []
for (room, epoch, sender) in [('room-1', 1, 1), ('room-1', 1, 2), ('room-1', 2, 1), ('Room.2_x', 4294967295, 65536)]:
    secret = expand(b'group secret %s %d' % (room.encode(), epoch), 32)
    sender_keys.append({'secret': secret.hex(), 'roomId': room, 'epoch': epoch, 'sender': sender, 'key': sender_key(secret, room, epoch, sender).hex()})

key = expand(b'pair key', 256); g_a = expand(b'pair g_a', 256)
pair = {'key': key.hex(), 'gA': g_a.hex(), 'pairHash': pair_hash(key, g_a).hex()}

members = [
    {'memberId': 3, 'userId': 'carol', 'deviceId': 'phone', 'pairHash': pair_hash(expand(b'k3', 256), g_a).hex()},
    {'memberId': 1, 'userId': 'alice', 'deviceId': 'd1', 'pairHash': bytes(32).hex()},
    {'memberId': 2, 'userId': 'bob', 'deviceId': 'laptop-2', 'pairHash': pair_hash(expand(b'k2', 256), g_a).hex()},
]
t = transcript('room-1', 7, 1, members)
nonces = {m['memberId']: expand(b'nonce %d' % m['memberId'], 32) for m in members}
h = code_hash(t, nonces)
room = {
    'roomId': 'room-1', 'epoch': 7, 'distributor': 1, 'members': members,
    'transcript': t.hex(), 'transcriptHash': hashlib.sha256(t).hexdigest(),
    'nonces': {str(k): v.hex() for k, v in nonces.items()},
    'commitments': {str(k): commitment('room-1', 7, k, v).hex() for k, v in nonces.items()},
    'codeHash': h.hex(), 'codeIndices': emoji_indices(h),
}
print(json.dumps({'hmac': hmac_vectors, 'hkdf': hkdf_vectors, 'senderKeys': sender_keys, 'pair': pair, 'room': room}, indent=1))
