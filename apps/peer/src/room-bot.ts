/**
 * A room member on Node (`mtcall-peer join <room>`): it joins through the signaling server like a browser does, takes
 * part in the group key scheme (`RoomKeyAgent` from @mtcall/client: the distributor's pairwise DH, epochs, the room
 * code), receives every other member's audio and video through the SFU with werift, opens each frame with
 * `RoomFrameCryptor` under the sender the SFU named, and decodes the audio. Receive only: it is the load of a room
 * (many receivers), not a sender.
 *
 * The receive transport is negotiated as mediasoup-client would: the SFU's side is a remote offer built from the
 * transport's ICE/DTLS parameters and each consumer's RTP parameters (one m-line per consumer, never removed), werift
 * answers, and the answer's DTLS fingerprint goes to `connectTransport`.
 */

import WebSocket from 'ws';
import { useOPUS, useVP8, type MediaStreamTrack } from 'werift';
import { OpusDecoder } from 'opus-decoder';
import { base64ToBytes, bytesToBase64, bytesToHex, randomBytes } from '@mtcall/crypto';
import { SignalingClient, type Call, type InCallMessage, type RoomServerMessage, type WebSocketConstructor } from '@mtcall/signaling';
import { RoomFrameCryptor, type RoomFrameCryptorStats } from '@mtcall/transport';
import { RoomKeyAgent, type RoomKeyOutput, type RoomMember } from '@mtcall/client';
import { SAMPLE_RATE } from './media.js';
import { PeerConnection } from './peer-connection.js';
import { Vp8Depacketizer } from './video.js';

export interface RoomBotOptions {
  server: string;
  userId: string;
  roomId: string;
  token?: string;
  onLog?: (line: string) => void;
}

/** What a bot saw, per sender and in total. */
export interface RoomBotReport {
  memberId: number;
  epoch: { held: number; sending: number };
  code?: { epoch: number; emoji: string[] };
  warnings: string[];
  members: number;
  crypto: RoomFrameCryptorStats;
  /** Per sender: audio frames decoded (Opus), video frames opened, RTP packets and bytes received. */
  senders: Record<number, { audioDecoded: number; videoFrames: number; packets: number; bytes: number }>;
  /** Time spent opening frames (µs) and frames opened: the receiver's decrypt cost. */
  openMicros: number;
  connectionState: string;
}

interface ConsumerEntry {
  consumerId: string;
  producerId: string;
  memberId: number;
  kind: 'audio' | 'video';
  source: string;
  mid: string;
  rtpParameters: RtpParameters;
  closed: boolean;
  depacketizer?: Vp8Depacketizer;
}

interface RtpParameters {
  mid?: string;
  codecs: { mimeType: string; payloadType: number; clockRate: number; channels?: number; parameters?: Record<string, unknown>; rtcpFeedback?: { type: string; parameter?: string }[] }[];
  encodings?: { ssrc?: number }[];
  rtcp?: { cname?: string };
}

interface TransportParameters {
  transportId: string;
  iceParameters: { usernameFragment: string; password: string };
  iceCandidates: { foundation: string; priority: number; ip: string; protocol: string; port: number; type: string }[];
  dtlsParameters: { fingerprints: { algorithm: string; value: string }[] };
}

/** The bot's receive capabilities: Opus and VP8, nothing else (no RTX: the bot does not ask for retransmissions). */
const BOT_CAPABILITIES = {
  codecs: [
    { kind: 'audio', mimeType: 'audio/opus', preferredPayloadType: 100, clockRate: 48000, channels: 2, rtcpFeedback: [] },
    { kind: 'video', mimeType: 'video/VP8', preferredPayloadType: 101, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] },
  ],
  headerExtensions: [],
};

export class RoomBot {
  readonly signaling: SignalingClient;
  readonly #options: RoomBotOptions;
  #memberId = 0;
  #agent: RoomKeyAgent | undefined;
  #cryptor: RoomFrameCryptor | undefined;
  #members = new Map<number, RoomMember>();
  readonly #pairs = new Map<number, Call>();
  readonly #pending = new Map<string, (m: RoomServerMessage | Error) => void>();
  #queue: Promise<unknown> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pc: PeerConnection | undefined;
  #transport: TransportParameters | undefined;
  #connected = false;
  #negotiation: Promise<void> = Promise.resolve();
  readonly #consumers = new Map<string, ConsumerEntry>();
  readonly #decoder = new OpusDecoder({ channels: 1, sampleRate: SAMPLE_RATE });
  readonly #senders: RoomBotReport['senders'] = {};
  #openMicros = 0;
  #code: { epoch: number; emoji: string[] } | undefined;
  readonly #warnings: string[] = [];
  #left = false;

  constructor(options: RoomBotOptions) {
    this.#options = options;
    this.signaling = new SignalingClient({
      url: options.server, userId: options.userId, WebSocket: WebSocket as unknown as WebSocketConstructor, ...(options.token !== undefined ? { token: options.token } : {}),
    });
  }

  /** Connects, joins, negotiates the receive transport and consumes what the room sends. */
  static async join(options: RoomBotOptions): Promise<RoomBot> {
    const bot = new RoomBot(options);
    await bot.#start();
    return bot;
  }

  get memberId(): number {
    return this.#memberId;
  }

  async report(): Promise<RoomBotReport> {
    await this.#decoder.ready;
    return {
      memberId: this.#memberId,
      epoch: { held: this.#agent?.epoch ?? 0, sending: this.#agent?.sendingEpoch ?? 0 },
      ...(this.#code ? { code: this.#code } : {}),
      warnings: [...this.#warnings],
      members: this.#members.size,
      crypto: this.#cryptor!.stats,
      senders: structuredClone(this.#senders),
      openMicros: Math.round(this.#openMicros),
      connectionState: this.#pc?.connectionState ?? 'new',
    };
  }

  async leave(): Promise<void> {
    if (this.#left) return;
    this.signaling.send({ type: 'leaveRoom', roomId: this.#options.roomId });
    this.#left = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const call of this.#pairs.values()) if (call.state !== 'ended') call.hangUp();
    this.#agent?.end();
    this.#cryptor?.destroy();
    await this.#pc?.close().catch(() => undefined);
    this.#decoder.free();
    this.signaling.close();
  }

  async #start(): Promise<void> {
    const s = this.signaling;
    s.on('room', (m) => this.#onRoom(m));
    s.on('roomError', (e) => {
      const resolve = e.requestId !== undefined ? this.#pending.get(e.requestId) : undefined;
      if (resolve) {
        this.#pending.delete(e.requestId!);
        resolve(new Error(`${e.code}: ${e.message}`));
      } else this.#log(`room error ${e.code}: ${e.message}`);
    });
    s.on('roomExchange', (call) => {
      const room = call.room;
      if (!room || room.roomId !== this.#options.roomId || !this.#agent?.acceptsPairFrom(room.memberId)) return void call.decline();
      this.#pairs.get(room.memberId)?.hangUp();
      this.#wire(room.memberId, call);
      call.accept();
    });
    await s.connect();
    await this.#decoder.ready;
    const joined = (await this.#request({ type: 'joinRoom', roomId: this.#options.roomId })) as Extract<RoomServerMessage, { type: 'roomJoined' }>;
    this.#memberId = joined.memberId;
    const self = joined.members.find((m) => m.memberId === joined.memberId)!;
    this.#cryptor = new RoomFrameCryptor(this.#options.roomId, joined.memberId, { asyncBackend: null });
    this.#agent = new RoomKeyAgent({ roomId: this.#options.roomId, self });
    this.#setMembers(joined.members, joined.distributor);
    this.#transport = (await this.#request({ type: 'createTransport', roomId: this.#options.roomId, direction: 'recv' })) as unknown as TransportParameters;
    this.#pc = new PeerConnection({ codecs: { audio: [useOPUS()], video: [useVP8()] }, iceAdditionalHostAddresses: ['127.0.0.1'] });
    this.#pc.onTrack.subscribe((track) => this.#onTrack(track));
    for (const p of joined.producers) await this.#consume(p.producerId, p.memberId, p.kind, p.source);
  }

  // ---- requests and room messages -------------------------------------------------------------------------

  #request(message: Record<string, unknown> & { type: string }): Promise<RoomServerMessage> {
    const run = () =>
      new Promise<RoomServerMessage>((resolve, reject) => {
        const requestId = bytesToHex(randomBytes(8));
        this.#pending.set(requestId, (m) => (m instanceof Error ? reject(m) : resolve(m)));
        this.signaling.send({ ...message, requestId } as never);
      });
    const result = this.#queue.then(run, run);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #onRoom(message: RoomServerMessage): void {
    if (message.roomId !== this.#options.roomId || this.#left) return;
    if ('requestId' in message) {
      const resolve = this.#pending.get(message.requestId);
      this.#pending.delete(message.requestId);
      resolve?.(message);
      return;
    }
    switch (message.type) {
      case 'roomMembers':
        this.#setMembers(message.members, message.distributor);
        return;
      case 'producerAdded':
        if (this.#transport) void this.#consume(message.producerId, message.memberId, message.kind, message.source).catch((e: Error) => this.#log(`consume: ${e.message}`));
        return;
      case 'producerRemoved':
        for (const c of this.#consumers.values()) if (c.producerId === message.producerId) c.closed = true;
        return;
      case 'roomCode': {
        const value = base64ToBytes(message.value);
        if (value && this.#agent) this.#apply(this.#agent.codeMessage(message.from, message.epoch, message.step, value));
        return;
      }
    }
  }

  // ---- keys (as RoomSession does it in browsers) ------------------------------------------------------------

  #setMembers(list: readonly RoomMember[], distributor: number): void {
    this.#members = new Map(list.map((m) => [m.memberId, { ...m }]));
    if (this.#agent) this.#apply(this.#agent.membership([...this.#members.values()], distributor, Date.now()));
  }

  #apply(outputs: RoomKeyOutput[]): void {
    for (const o of outputs) {
      switch (o.kind) {
        case 'open-pair': {
          const member = this.#members.get(o.memberId);
          if (member) this.#wire(o.memberId, this.signaling.call(member.userId, { video: false, room: { roomId: this.#options.roomId, memberId: o.memberId } }));
          break;
        }
        case 'close-pair':
          this.#pairs.get(o.memberId)?.hangUp();
          this.#pairs.delete(o.memberId);
          break;
        case 'pair-send': {
          const call = this.#pairs.get(o.memberId);
          if (call?.state === 'established') call.sendSignal({ type: 'app', data: o.message });
          break;
        }
        case 'code-send':
          this.signaling.send({ type: 'roomCode', roomId: this.#options.roomId, epoch: o.epoch, step: o.step, value: bytesToBase64(o.value) });
          break;
        case 'install':
          this.#cryptor?.install(o.epoch, o.secret);
          o.secret.fill(0);
          break;
        case 'switch':
          this.#cryptor?.switchTo(o.epoch);
          break;
        case 'retire':
          this.#cryptor?.retire(o.before);
          break;
        case 'code':
          this.#code = { epoch: o.epoch, emoji: o.emoji };
          this.#log(`room code (epoch ${o.epoch}): ${o.emoji.join(' ')}`);
          break;
        case 'warning':
          this.#warnings.push(o.code);
          this.#log(`WARNING ${o.code}: ${o.detail}`);
          break;
        case 'epoch':
          break;
      }
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const at = this.#agent?.nextWakeAt();
    if (at !== undefined && !this.#left) this.#timer = setTimeout(() => this.#apply(this.#agent!.tick(Date.now())), Math.max(0, at - Date.now()));
  }

  #wire(memberId: number, call: Call): void {
    this.#pairs.set(memberId, call);
    call.on('established', (keys) => {
      if (this.#pairs.get(memberId) === call) this.#apply(this.#agent!.pairEstablished(memberId, keys.key, keys.gA, Date.now()));
    });
    call.on('signal', (m: InCallMessage) => {
      if (m.type === 'app' && this.#pairs.get(memberId) === call) this.#apply(this.#agent!.pairMessage(memberId, m.data, Date.now()));
    });
    call.on('ended', () => {
      if (this.#pairs.get(memberId) !== call || this.#left) return;
      this.#pairs.delete(memberId);
      this.#apply(this.#agent!.pairEnded(memberId, Date.now()));
    });
  }

  // ---- media ------------------------------------------------------------------------------------------------

  async #consume(producerId: string, memberId: number, kind: 'audio' | 'video', source: string): Promise<void> {
    const answer = (await this.#request({
      type: 'consume', roomId: this.#options.roomId, transportId: this.#transport!.transportId, producerId, rtpCapabilities: BOT_CAPABILITIES,
    })) as Extract<RoomServerMessage, { type: 'consumed' }>;
    const rtpParameters = answer.rtpParameters as RtpParameters;
    const entry: ConsumerEntry = { consumerId: answer.consumerId, producerId, memberId, kind, source, mid: rtpParameters.mid ?? String(this.#consumers.size), rtpParameters, closed: false };
    if (kind === 'video') entry.depacketizer = new Vp8Depacketizer();
    this.#consumers.set(entry.consumerId, entry);
    await this.#renegotiate();
    await this.#request({ type: 'resumeConsumer', roomId: this.#options.roomId, consumerId: entry.consumerId });
  }

  /** The SFU's offer (all consumers so far), werift's answer, and the DTLS connect the first time. */
  #renegotiate(): Promise<void> {
    const run = async () => {
      const pc = this.#pc!;
      await pc.setRemoteDescription({ type: 'offer', sdp: this.#remoteOffer() });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      if (!this.#connected) {
        this.#connected = true;
        const sdp = pc.localDescription!.sdp;
        const fp = /a=fingerprint:(\S+) (\S+)/.exec(sdp);
        if (!fp) throw new Error('werift answer has no DTLS fingerprint');
        await this.#request({
          type: 'connectTransport', roomId: this.#options.roomId, transportId: this.#transport!.transportId,
          dtlsParameters: { role: 'client', fingerprints: [{ algorithm: fp[1]!.toLowerCase(), value: fp[2]!.toUpperCase() }] },
        });
      }
    };
    this.#negotiation = this.#negotiation.then(run, run);
    return this.#negotiation;
  }

  #remoteOffer(): string {
    const t = this.#transport!;
    const consumers = [...this.#consumers.values()];
    const fp = t.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? t.dtlsParameters.fingerprints[0]!;
    const lines = ['v=0', `o=mediasoup 1 ${Date.now()} IN IP4 0.0.0.0`, 's=-', 't=0 0', 'a=ice-lite', `a=fingerprint:${fp.algorithm} ${fp.value}`, 'a=msid-semantic: WMS *', `a=group:BUNDLE ${consumers.map((c) => c.mid).join(' ')}`];
    for (const c of consumers) {
      const codec = c.rtpParameters.codecs[0]!;
      const [, name] = codec.mimeType.split('/');
      lines.push(`m=${c.kind} 7 UDP/TLS/RTP/SAVPF ${codec.payloadType}`, 'c=IN IP4 127.0.0.1', `a=mid:${c.mid}`, c.closed ? 'a=inactive' : 'a=sendonly');
      lines.push(`a=ice-ufrag:${t.iceParameters.usernameFragment}`, `a=ice-pwd:${t.iceParameters.password}`);
      for (const cand of t.iceCandidates) if (cand.protocol === 'udp') lines.push(`a=candidate:${cand.foundation} 1 udp ${cand.priority} ${cand.ip} ${cand.port} typ host`);
      lines.push('a=end-of-candidates', 'a=setup:actpass', 'a=rtcp-mux', 'a=rtcp-rsize');
      lines.push(`a=rtpmap:${codec.payloadType} ${name}/${codec.clockRate}${codec.channels && codec.channels > 1 ? `/${codec.channels}` : ''}`);
      const params = Object.entries(codec.parameters ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(';');
      if (params) lines.push(`a=fmtp:${codec.payloadType} ${params}`);
      for (const fb of codec.rtcpFeedback ?? []) lines.push(`a=rtcp-fb:${codec.payloadType} ${fb.type}${fb.parameter ? ` ${fb.parameter}` : ''}`);
      const ssrc = c.rtpParameters.encodings?.[0]?.ssrc;
      if (ssrc !== undefined) lines.push(`a=ssrc:${ssrc} cname:${c.rtpParameters.rtcp?.cname ?? 'mtcall'}`, `a=msid:m${c.memberId} ${c.consumerId}`);
    }
    return lines.join('\r\n') + '\r\n';
  }

  #onTrack(track: MediaStreamTrack): void {
    track.onReceiveRtp.subscribe((rtp) => {
      if (this.#left) return;
      const mid = this.#pc!.getTransceivers().find((t) => t.receiver.tracks.includes(track))?.mid;
      const consumer = [...this.#consumers.values()].find((c) => c.mid === mid);
      if (!consumer) return;
      const sender = (this.#senders[consumer.memberId] ??= { audioDecoded: 0, videoFrames: 0, packets: 0, bytes: 0 });
      sender.packets++;
      sender.bytes += rtp.payload.length;
      const stream = { kind: consumer.kind, source: consumer.source };
      if (consumer.kind === 'audio') {
        const started = performance.now();
        const opened = this.#cryptor!.decrypt(rtp.payload, stream, consumer.memberId);
        this.#openMicros += (performance.now() - started) * 1000;
        if (opened.ok && opened.frame.length > 0) {
          const pcm = this.#decoder.decodeFrame(opened.frame);
          if (pcm.samplesDecoded > 0) sender.audioDecoded++;
        }
        return;
      }
      for (const frame of consumer.depacketizer!.push({ sequenceNumber: rtp.header.sequenceNumber, timestamp: rtp.header.timestamp, marker: rtp.header.marker, payload: rtp.payload })) {
        const started = performance.now();
        const opened = this.#cryptor!.decrypt(frame.data, stream, consumer.memberId);
        this.#openMicros += (performance.now() - started) * 1000;
        if (opened.ok) sender.videoFrames++;
      }
    });
  }

  #log(line: string): void {
    this.#options.onLog?.(`[${this.#options.userId}] ${line}`);
  }
}
