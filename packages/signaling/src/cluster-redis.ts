/**
 * The Redis adapter of a `ClusterNode` (thin: every decision is in the node). Uses node-redis (`redis` v5, the
 * client Redis Ltd. maintains: promises, RESP3, auto-reconnect, one ordered pipeline per connection).
 *
 * Keys (under `prefix`, default `mtcall:`): `dir` — hash (user\0device → "instance tokenHash"); `devices:<instance>`
 * — set of an instance's fields; `alive:<instance>` — its heartbeat, with a TTL, holding its incarnation
 * (`<instance>/<boot nonce>`: a process restarted under the same id is another holder); `instances` — set of ids.
 * Rooms: `room:<id>` — hash (`owner`: the incarnation holding the room, `gen`: its generation, from the `roomgen`
 * counter: new for every new holder, never repeated), deleted when the room is released or its holder swept;
 * `rooms:<instance>` — set of the rooms an instance claimed.
 * Channels: `delta` (directory changes, to every instance) and `to:<instance>` (one per instance). Every directory
 * change runs as one Lua script that also publishes its delta, so no instance ever sees a change without its delta.
 * One connection sends commands in order (a registration always precedes the frames that follow it); one more
 * connection subscribes to both channels, so deltas and routed messages arrive in the order they were published.
 * The scripts build key names from the prefix: one Redis (or a Sentinel pair), not Redis Cluster.
 */

import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import type { ClusterMessage, ClusterNode, ClusterOutput, DirectoryDelta } from './cluster-node.js';
import { directoryField } from './cluster-node.js';
import type { ConnectionId, ServerLogEntry, ServerOutput } from './server-core.js';

/** Where and how an instance joins its cluster. */
export interface RedisClusterOptions {
  /** redis://host:port (or rediss://…). */
  url: string;
  /** This instance's id (default: random). Letters, digits, `.`, `_`, `-`. */
  instanceId?: string;
  /** Prefix of every key and channel (default `mtcall:`): several clusters can share one Redis. */
  prefix?: string;
  /** How long this instance's devices outlive its last heartbeat (ms, default 10 000). */
  instanceTtlMs?: number;
  /**
   * The instance that keeps the cluster's secret chats, in this Redis (`chat-redis.ts`); give every instance the
   * same id. The others forward chat frames to it. Absent: each instance keeps its own devices' chats in memory.
   */
  chatInstance?: string;
  /**
   * Without `chatInstance`: elect the secret chats' writer through the Redis lease (`chat:writer`, TTL `instanceTtlMs`)
   * — the first instance to take it keeps the chats in Redis, the others forward to it, and when it dies another
   * takes over, loading them back. False (the default here; `mtcall-signal --redis` turns it on): each instance keeps
   * its own devices' chats in memory.
   */
  electChats?: boolean;
  /** Room joins a device may make per minute on this instance (default 30, `DEFAULT_ROOM_JOINS_PER_MINUTE`). */
  roomJoinsPerMinute?: number;
}

export const DEFAULT_INSTANCE_TTL_MS = 10_000;
export const DEFAULT_REDIS_PREFIX = 'mtcall:';

const REGISTER = `
local prev = redis.call('HGET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. ' ' .. ARGV[4])
if prev then
  local owner = string.match(prev, '^(%S+)')
  if owner ~= ARGV[3] then redis.call('SREM', ARGV[1] .. 'devices:' .. owner, ARGV[2]) end
end
redis.call('SADD', ARGV[1] .. 'devices:' .. ARGV[3], ARGV[2])
redis.call('PUBLISH', ARGV[1] .. 'delta', ARGV[5])
return 1`;

const UNREGISTER = `
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur or string.match(cur, '^(%S+)') ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('SREM', ARGV[1] .. 'devices:' .. ARGV[3], ARGV[2])
redis.call('PUBLISH', ARGV[1] .. 'delta', ARGV[4])
return 1`;

/**
 * Frees what a dead instance (ARGV[1] = prefix, `inst`) left: its devices (HDEL + a `down` delta each) and its room
 * claims (the room keys deleted: the next claim starts a new generation). Returns how many devices and rooms.
 * Room owners are incarnations (`<instance>/<boot nonce>`); instance ids never contain `/`.
 */
const SWEEP_FN = `
local function sweep(dir, inst)
  local set = ARGV[1] .. 'devices:' .. inst
  local removed = 0
  for _, field in ipairs(redis.call('SMEMBERS', set)) do
    local cur = redis.call('HGET', dir, field)
    if cur and string.match(cur, '^(%S+)') == inst then
      redis.call('HDEL', dir, field)
      local sep = string.find(field, '\\0', 1, true)
      redis.call('PUBLISH', ARGV[1] .. 'delta', cjson.encode({op = 'down', userId = string.sub(field, 1, sep - 1), deviceId = string.sub(field, sep + 1), instance = inst}))
      removed = removed + 1
    end
  end
  redis.call('DEL', set)
  local freed = 0
  for _, room in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'rooms:' .. inst)) do
    local key = ARGV[1] .. 'room:' .. room
    local owner = redis.call('HGET', key, 'owner')
    if owner and string.match(owner, '^([^/]+)') == inst then
      redis.call('DEL', key)
      freed = freed + 1
    end
  end
  return removed, freed
end
`;

/**
 * Claims a room (KEYS[1] = room:<id>; ARGV = prefix, incarnation, room id, instance id): taken when nobody holds it
 * or its holder's incarnation is no longer the one alive under its id (heartbeat expired, or the instance restarted:
 * a takeover); every new holder gets a new generation from one counter (`roomgen`), so a generation never repeats,
 * even after the room's key was deleted. Returns { holder incarnation, generation }. A previous holder keeps the room
 * in its `rooms:` set: its next heartbeat (if it comes back) reports it lost.
 */
export const ROOM_CLAIM = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[2] and redis.call('GET', ARGV[1] .. 'alive:' .. string.match(owner, '^([^/]+)')) == owner then
  return {owner, redis.call('HGET', KEYS[1], 'gen')}
end
if owner ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'gen', redis.call('INCR', ARGV[1] .. 'roomgen'))
  redis.call('SADD', ARGV[1] .. 'rooms:' .. ARGV[4], ARGV[3])
end
return {ARGV[2], redis.call('HGET', KEYS[1], 'gen')}`;

/** Releases a room only while this incarnation holds it (ARGV = prefix, incarnation, room id, instance id): its key is deleted. */
export const ROOM_RELEASE = `
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[1] .. 'rooms:' .. ARGV[4], ARGV[3])
return 1`;

/**
 * Refreshes this instance's heartbeat (ARGV = prefix, instance id, TTL, incarnation: the `alive:` key's value); sweeps
 * the instances whose heartbeat expired (their devices, with deltas; their room claims, freed; a \`gone\` notice);
 * returns the rooms this instance claimed and this incarnation no longer holds (taken over, or freed).
 */
export const HEARTBEAT_AND_SWEEP = SWEEP_FN + `
redis.call('SET', ARGV[1] .. 'alive:' .. ARGV[2], ARGV[4], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[2])
local lost = {}
local mine = ARGV[1] .. 'rooms:' .. ARGV[2]
redis.call('PERSIST', mine)
for _, room in ipairs(redis.call('SMEMBERS', mine)) do
  if redis.call('HGET', ARGV[1] .. 'room:' .. room, 'owner') ~= ARGV[4] then
    redis.call('SREM', mine, room)
    table.insert(lost, room)
  end
end
for _, inst in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[1] .. 'alive:' .. inst) == 0 then
    sweep(KEYS[1], inst)
    -- Kept a while: if the instance was only late, its next heartbeat finds its rooms gone and drops them.
    redis.call('PEXPIRE', ARGV[1] .. 'rooms:' .. inst, 86400000)
    redis.call('SREM', KEYS[2], inst)
    redis.call('PUBLISH', ARGV[1] .. 'delta', cjson.encode({op = 'gone', instance = inst}))
  end
end
return lost`;

/**
 * At start (ARGV = prefix, instance id), before the first heartbeat: frees what a previous incarnation under this
 * instance id left (it crashed and this one restarted within its TTL, so nobody swept it) — its devices and rooms —
 * and publishes \`gone\` so the other instances tell their members of its rooms `room-lost`. Returns 1 when it did.
 */
export const INCARNATION_START = SWEEP_FN + `
local was = redis.call('EXISTS', ARGV[1] .. 'alive:' .. ARGV[2])
local removed, freed = sweep(KEYS[1], ARGV[2])
redis.call('DEL', ARGV[1] .. 'rooms:' .. ARGV[2], ARGV[1] .. 'alive:' .. ARGV[2])
redis.call('SREM', KEYS[2], ARGV[2])
if was == 1 or removed > 0 or freed > 0 then
  redis.call('PUBLISH', ARGV[1] .. 'delta', cjson.encode({op = 'gone', instance = ARGV[2]}))
  return 1
end
return 0`;

/** The engine a WebSocket adapter drives: the core's methods, with the cluster's outputs already carried out. */
export interface RedisClusterLink {
  readonly instanceId: string;
  /** This process's incarnation, `<instanceId>/<boot nonce>`: the owner value of its room claims and its heartbeat. */
  readonly incarnation: string;
  readonly node: ClusterNode;
  open(id: ConnectionId, now: number, address?: string): ServerOutput[];
  receive(id: ConnectionId, text: string, byteLength: number, now: number): ServerOutput[];
  close(id: ConnectionId, now: number): ServerOutput[];
  tick(now: number): ServerOutput[];
  tokenVerified(...args: Parameters<ClusterNode['tokenVerified']>): ServerOutput[];
  roomMediaDone(...args: Parameters<ClusterNode['roomMediaDone']>): ServerOutput[];
  nextWakeAt(): number;
  /** This instance was elected the secret chats' writer (`ClusterNode.takeChats`). */
  takeChats(now: number): ServerOutput[];
  /** Where outputs caused by other instances (deltas, routed messages) go; those arriving before are kept. */
  attach(apply: (outputs: ServerOutput[]) => void): void;
  /** Leaves the cluster: deletes this instance's heartbeat (the others then sweep its devices) and disconnects. */
  leave(): Promise<void>;
}

function isDelta(value: unknown): value is DirectoryDelta {
  const d = value as Partial<Record<string, unknown>> | null;
  return typeof d === 'object' && d !== null && (d.op === 'up' || d.op === 'down') && typeof d.userId === 'string' && typeof d.deviceId === 'string' && typeof d.instance === 'string';
}

function isGone(value: unknown): value is { op: 'gone'; instance: string } {
  const d = value as Partial<Record<string, unknown>> | null;
  return typeof d === 'object' && d !== null && d.op === 'gone' && typeof d.instance === 'string';
}

/**
 * Connects a cluster node to Redis: subscribes to the delta channel and its own channel, loads the directory,
 * starts the heartbeat (the node's `tick`). Redis errors are logged, never thrown at the caller after start.
 * @throws when Redis cannot be reached at start.
 */
export async function connectRedisCluster(
  node: ClusterNode,
  options: {
    url: string; prefix: string; instanceTtlMs: number; log?: ((entry: ServerLogEntry) => void) | undefined;
    /** A connected client to send commands on (the chat store's: its writes then precede routed replies); its owner closes it. */
    client?: ReturnType<typeof createClient>;
  },
): Promise<RedisClusterLink> {
  const { prefix } = options;
  const self = node.instanceId;
  const incarnation = `${self}/${randomBytes(8).toString('hex')}`;
  const report = (error: unknown) => options.log?.({ event: 'redis-error', detail: error instanceof Error ? error.message : String(error) });
  /** A reply's handling threw (a bug, or state the node did not expect): logged, the instance keeps serving. */
  const fault = (what: string) => (error: unknown) => options.log?.({ event: 'cluster-error', detail: `${what}: ${error instanceof Error ? error.stack ?? error.message : String(error)}` });
  const owned = options.client === undefined;
  const client = options.client ?? createClient({ url: options.url, name: `mtcall-${self}` });
  if (owned) {
    client.on('error', report);
    await client.connect();
  }
  const sub = client.duplicate();
  sub.on('error', report);
  await sub.connect();
  const scripts = { register: REGISTER, unregister: UNREGISTER, heartbeat: HEARTBEAT_AND_SWEEP, claim: ROOM_CLAIM, release: ROOM_RELEASE, start: INCARNATION_START };
  const shas = {} as Record<keyof typeof scripts, string>;
  for (const name of Object.keys(scripts) as (keyof typeof scripts)[]) shas[name] = await client.scriptLoad(scripts[name]);
  /** Sends a command; a failure (Redis down, client closed) is logged, never thrown. */
  const send = (command: () => Promise<unknown>) => {
    try {
      command().catch(report);
    } catch (error) {
      report(error);
    }
  };
  /** Runs a script; resolves with its reply, or undefined after logging a failure. */
  const run = (name: keyof typeof shas, keys: string[], args: string[]): Promise<unknown> => {
    if (!client.isOpen) {
      report(new Error(`redis closed: ${name} not sent`));
      return Promise.resolve(undefined);
    }
    return client.evalSha(shas[name], { keys, arguments: args }).catch((error: unknown) => {
      // After a Redis restart the script cache is empty: send the script itself.
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) return client.eval(scripts[name], { keys, arguments: args }).catch(report);
      report(error);
      return undefined;
    });
  };
  const dir = `${prefix}dir`;
  // Before subscribing and the first heartbeat: what a previous process under this id left is freed (and `gone` told).
  await client.evalSha(shas.start, { keys: [dir, `${prefix}instances`], arguments: [prefix, self] });
  let apply: ((outputs: ServerOutput[]) => void) | undefined;
  const early: ServerOutput[][] = [];

  const carryOut = (outputs: ClusterOutput[]): ServerOutput[] => {
    const local: ServerOutput[] = [];
    for (const output of outputs) {
      switch (output.kind) {
        case 'route':
          send(() => client.publish(`${prefix}to:${output.instance}`, JSON.stringify(output.message)).then((listeners) => {
            if (listeners === 0) fromOutside(node.unrouted(output.instance, output.message));
          }));
          break;
        case 'register':
          run('register', [dir], [prefix, directoryField(output.delta), self, output.delta.tokenHash, JSON.stringify(output.delta)]);
          break;
        case 'unregister':
          run('unregister', [dir], [prefix, directoryField(output.device), self, JSON.stringify({ op: 'down', ...output.device, instance: self })]);
          break;
        case 'heartbeat':
          void run('heartbeat', [dir, `${prefix}instances`], [prefix, self, String(options.instanceTtlMs), incarnation]).then((lost) => {
            if (Array.isArray(lost) && lost.length > 0) fromOutside(node.roomsLost(lost.map(String), Date.now()));
          }).catch(fault('heartbeat reply'));
          break;
        case 'claim-room': {
          const { claim } = output;
          void run('claim', [`${prefix}room:${claim.roomId}`], [prefix, incarnation, claim.roomId, self]).then((reply) => {
            const holder = Array.isArray(reply) ? String(reply[0]) : undefined;
            const owner = holder?.split('/')[0];
            const generation = Array.isArray(reply) ? Number(reply[1]) : NaN;
            // Redis unreachable (nobody can say who holds the room), or another live process under this very id holds
            // it (two processes started with one id): the join is refused (room-lost), nothing changed.
            fromOutside(owner === undefined || (owner === self && holder !== incarnation)
              ? node.roomUnclaimed(claim)
              : node.roomClaimed(claim, owner, Date.now(), Number.isSafeInteger(generation) ? generation : undefined));
          }).catch(fault(`claim reply for room ${claim.roomId}`));
          break;
        }
        case 'release-room':
          void run('release', [`${prefix}room:${output.roomId}`], [prefix, incarnation, output.roomId, self]);
          break;
        default:
          local.push(output);
      }
    }
    return local;
  };
  const fromOutside = (outputs: ClusterOutput[]) => {
    const local = carryOut(outputs);
    if (local.length === 0) return;
    if (apply) apply(local);
    else early.push(local);
  };

  await sub.subscribe([`${prefix}delta`, `${prefix}to:${self}`], (text, channel) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return report(new Error(`unparsable message on ${channel}`));
    }
    try {
      if (channel === `${prefix}delta`) {
        if (isDelta(value)) fromOutside(node.delta(value, Date.now()));
        else if (isGone(value)) fromOutside(node.instanceGone(value.instance));
      } else fromOutside(node.message(value as ClusterMessage, Date.now()));
    } catch (error) {
      report(error);
    }
  });
  fromOutside(node.tick(Date.now()));
  const entries: Extract<DirectoryDelta, { op: 'up' }>[] = [];
  for (const [field, value] of Object.entries(await client.hGetAll(dir))) {
    const [userId, deviceId] = field.split('\u0000');
    const [instance, tokenHash] = value.split(' ');
    if (userId !== undefined && deviceId !== undefined && instance !== undefined && tokenHash !== undefined) entries.push({ op: 'up', userId, deviceId, instance, tokenHash, resumed: false });
  }
  fromOutside(node.load(entries, Date.now()));

  return {
    instanceId: self,
    incarnation,
    node,
    open: (...args) => carryOut(node.open(...args)),
    receive: (...args) => carryOut(node.receive(...args)),
    close: (...args) => carryOut(node.close(...args)),
    tick: (now) => carryOut(node.tick(now)),
    tokenVerified: (...args) => carryOut(node.tokenVerified(...args)),
    roomMediaDone: (...args) => carryOut(node.roomMediaDone(...args)),
    nextWakeAt: () => node.nextWakeAt(),
    takeChats: (now) => carryOut(node.takeChats(now)),
    attach: (to) => {
      apply = to;
      for (const outputs of early.splice(0)) to(outputs);
    },
    leave: async () => {
      await client.del(`${prefix}alive:${self}`).catch(report);
      await Promise.allSettled([sub.close(), ...(owned ? [client.close()] : [])]);
    },
  };
}
