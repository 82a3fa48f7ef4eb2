/**
 * The demo's room view (issue 13): a group call through the server's SFU, on `MtcallClient.join`. A grid of tiles
 * (a name, the video, a ring while someone speaks), the room's four emoji — the same for everyone unless someone is
 * in the middle — the epoch, who joined or left, and warnings in words. Buttons turn this device's microphone and
 * camera off and on and share the screen; a tile shows a badge while its member's microphone or camera is off, and a
 * shared screen gets a tile of its own. Its DOM lives outside the app's re-rendered
 * tree (videos keep playing when the app re-renders); `app.ts` shows the join form.
 */

import { EMOJI_FONT_FAMILY, type MtcallClient, type RoomSession, type RoomSecurityState, type RoomTrack } from '@mtcall/client';

const SECURITY: Record<RoomSecurityState, { icon: string; text: string; tone: string }> = {
  agreeing: { icon: '🔑', text: 'Waiting for the room key…', tone: 'muted' },
  'keys-agreed': { icon: '🔑', text: 'Room key received — compare the room code aloud.', tone: 'muted' },
  'media-protected': { icon: '🔒', text: 'End-to-end encrypted: the server forwards scrambled data. Compare the room code aloud.', tone: 'good' },
  'keys-differ': { icon: '⚠️', text: 'Your key exchange with the room was tampered with: someone may be in the middle. Leave the room.', tone: 'bad' },
};

/** What the room view says while the SDK rejoins a room whose server instance stopped. */
const ROOM_MOVED = 'Room moved to another server — rejoining…';

interface Tile {
  element: HTMLElement;
  video?: HTMLVideoElement;
  level: number;
  /** What its member paused: `audio` (microphone off), `video` (camera off). */
  paused: Set<string>;
  badges: HTMLElement;
}

const BADGES: Record<string, string> = { audio: '🔇 muted', video: '📷 camera off' };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

export class RoomView {
  readonly element = el('section', 'room');
  #room: RoomSession | undefined;
  readonly #tiles = new Map<number, Tile>();
  /** Shared screens, by member. */
  readonly #screens = new Map<number, Tile>();
  readonly #notices: string[] = [];
  #audio: AudioContext | undefined;
  #meter: ReturnType<typeof setInterval> | undefined;
  #onChange: () => void = () => undefined;

  constructor() {
    this.element.hidden = true;
  }

  get inRoom(): boolean {
    return this.#room !== undefined;
  }

  /** Called whenever the view changes (the app re-renders its own part). */
  onChange(listener: () => void): void {
    this.#onChange = listener;
  }

  async join(client: MtcallClient, roomId: string): Promise<void> {
    if (this.#room) return;
    this.#audio = new AudioContext();
    const room = await client.join(roomId, { audio: true, video: { width: 640, height: 360 } });
    this.#room = room;
    room.on('members', ({ joined, left }) => {
      if (joined) this.#notice(`${joined.userId} joined`);
      if (left) {
        this.#notice(`${left.userId} left`);
        this.#tiles.get(left.memberId)?.element.remove();
        this.#tiles.delete(left.memberId);
      }
      this.#render();
    });
    room.on('epoch', ({ epoch }) => {
      this.#notice(`new room key (epoch ${epoch}): compare the new room code`);
      this.#render();
    });
    room.on('code', () => this.#render());
    room.on('security', () => this.#render());
    room.on('warning', ({ detail }) => {
      this.#notice(`⚠ ${detail}`);
      this.#render();
    });
    room.on('track', (track) => this.#addTrack(track));
    room.on('track-ended', ({ memberId, producerId }) => {
      const screen = this.#screens.get(memberId);
      if (screen?.video?.dataset['producer'] === producerId) {
        screen.element.remove();
        this.#screens.delete(memberId);
      }
      const tile = this.#tiles.get(memberId);
      if (tile?.video?.dataset['producer'] === producerId) tile.video.remove();
      this.#render();
    });
    room.on('track-paused', ({ memberId, source, paused }) => {
      const tile = this.#tiles.get(memberId);
      if (!tile || source === 'screen') return;
      if (paused) tile.paused.add(source);
      else tile.paused.delete(source);
      this.#renderBadges(tile);
    });
    room.on('local-media', () => this.#showLocal());
    room.on('resumed', () => {
      this.#notice('connection to the server restored: still in the room');
      this.#render();
    });
    room.on('left', () => this.#reset());
    // The room's server instance stopped: the SDK joins again by itself — a new session, a new room code.
    room.on('rejoining', ({ reason }) => {
      this.#notice(reason === 'lost' ? ROOM_MOVED : 'The connection came back without the room — rejoining…');
      for (const tile of [...this.#tiles.values(), ...this.#screens.values()]) tile.element.remove();
      this.#tiles.clear();
      this.#screens.clear();
      this.#render();
    });
    room.on('rejoined', () => {
      this.#notice('Rejoined: a new room key and a new room code — compare it aloud again (an earlier comparison no longer counts)');
      this.#ownTile(client.userId);
      this.#render();
    });
    for (const track of room.tracks) this.#addTrack(track);
    for (const w of room.warnings) this.#notice(`⚠ ${w.detail}`);
    this.#ownTile(client.userId);
    this.#meter = setInterval(() => this.#renderLevels(), 200);
    this.element.hidden = false;
    this.#render();
  }

  /** This device's tile (under its member number, which changes on rejoining): its camera and microphone level. */
  #ownTile(userId: string): void {
    const room = this.#room;
    if (!room) return;
    const own = this.#tile(room.memberId, `${userId} (you)`);
    this.#showLocal();
    const mic = room.localTracks.find((t) => t.kind === 'audio');
    if (mic) this.#listen(own, new MediaStream([mic]));
  }

  async leave(): Promise<void> {
    await this.#room?.leave();
    this.#reset();
  }

  /** What the view shows (the demo's snapshot). */
  snapshot(): { roomId: string; memberId: number; epoch: number; code?: string[]; security: RoomSecurityState; members: string[]; tiles: number } | undefined {
    const room = this.#room;
    if (!room) return undefined;
    return {
      roomId: room.roomId, memberId: room.memberId, epoch: room.epoch.sending, security: room.security, members: room.members.map((m) => m.userId), tiles: this.#tiles.size,
      ...(room.code ? { code: room.code.emoji } : {}),
    };
  }

  /** This device's own tile: its camera (a fresh track after the camera comes back on) and what it has off. */
  #showLocal(): void {
    const room = this.#room;
    const own = room && this.#tiles.get(room.memberId);
    if (!room || !own) return;
    const camera = room.localTracks.find((t) => t.kind === 'video' && t.readyState === 'live' && t.contentHint !== 'detail' && t.contentHint !== 'text');
    const shown = own.video?.srcObject instanceof MediaStream ? own.video.srcObject.getVideoTracks()[0] : undefined;
    if (camera && room.cameraOn && shown !== camera) this.#setVideo(own, new MediaStream([camera]), true);
    own.paused = new Set([...(room.microphoneOn ? [] : ['audio']), ...(room.cameraOn ? [] : ['video'])]);
    this.#renderBadges(own);
    this.#render();
  }

  #addTrack(track: RoomTrack): void {
    if (track.source === 'screen') {
      let screen = this.#screens.get(track.memberId);
      if (!screen) {
        screen = this.#newTile(track.memberId, `${track.userId}'s screen`, 'tile screen');
        this.#screens.set(track.memberId, screen);
      }
      this.#setVideo(screen, track.stream, false, track.producerId);
      return this.#render();
    }
    const tile = this.#tile(track.memberId, track.userId);
    if (track.paused) tile.paused.add(track.source);
    else tile.paused.delete(track.source);
    this.#renderBadges(tile);
    if (track.kind === 'video') this.#setVideo(tile, track.stream, false, track.producerId);
    else {
      const audio = el('audio');
      audio.autoplay = true;
      audio.srcObject = track.stream;
      tile.element.append(audio);
      this.#listen(tile, track.stream);
    }
    this.#render();
  }

  #tile(memberId: number, name: string): Tile {
    let tile = this.#tiles.get(memberId);
    if (!tile) {
      tile = this.#newTile(memberId, name, 'tile');
      this.#tiles.set(memberId, tile);
    }
    return tile;
  }

  #newTile(memberId: number, name: string, className: string): Tile {
    const element = el('div', className);
    element.dataset['member'] = String(memberId);
    const badges = el('div', 'tile-badges');
    element.append(el('div', 'tile-name', name), badges);
    return { element, level: 0, paused: new Set(), badges };
  }

  #renderBadges(tile: Tile): void {
    tile.badges.replaceChildren(...[...tile.paused].map((source) => el('span', `badge badge-${source}`, BADGES[source] ?? `${source} off`)));
    tile.element.classList.toggle('camera-off', tile.paused.has('video'));
  }

  #setVideo(tile: Tile, stream: MediaStream, mirror: boolean, producerId?: string): void {
    tile.video?.remove();
    const video = el('video', mirror ? 'mirror' : '');
    if (producerId) video.dataset['producer'] = producerId;
    video.autoplay = true;
    video.muted = true;
    video.playsInline = true;
    video.srcObject = stream;
    tile.video = video;
    tile.element.prepend(video);
  }

  /** A speaking indicator: the RMS of the track, sampled by an analyser. */
  #listen(tile: Tile, stream: MediaStream): void {
    if (!this.#audio) return;
    const analyser = this.#audio.createAnalyser();
    this.#audio.createMediaStreamSource(stream).connect(analyser);
    const data = new Float32Array(analyser.fftSize);
    const sample = () => {
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const x of data) sum += x * x;
      tile.level = Math.sqrt(sum / data.length);
    };
    const timer = setInterval(() => (this.#tiles.has(Number(tile.element.dataset['member'])) ? sample() : clearInterval(timer)), 200);
  }

  #renderLevels(): void {
    for (const tile of this.#tiles.values()) tile.element.classList.toggle('speaking', tile.level > 0.02);
  }

  /** A button running a room control; a refusal (e.g. no permission for the screen) becomes a notice. */
  #control(id: string, label: string, run: () => Promise<void>): HTMLButtonElement {
    const button = el('button', '', label);
    button.id = id;
    button.addEventListener('click', () => {
      button.disabled = true;
      run().catch((error: unknown) => this.#notice(`⚠ ${(error as Error).message}`)).finally(() => this.#render());
    });
    return button;
  }

  #notice(text: string): void {
    this.#notices.push(text);
    if (this.#notices.length > 6) this.#notices.shift();
  }

  #render(): void {
    const room = this.#room;
    if (!room) return;
    const security = room.rejoining ? { icon: '🔄', text: `${ROOM_MOVED} (the room code will change)`, tone: 'muted' } : SECURITY[room.security];
    const code = el('span', 'room-code', room.code && !room.rejoining ? room.code.emoji.join(' ') : '…');
    code.style.fontFamily = EMOJI_FONT_FAMILY;
    const leave = el('button', 'danger', 'Leave');
    leave.id = 'leave-room';
    leave.addEventListener('click', () => void this.leave());
    const mic = this.#control('room-mic', room.microphoneOn ? 'Mute' : 'Unmute', () => room.setMicrophone(!room.microphoneOn));
    const camera = this.#control('room-camera', room.cameraOn ? 'Camera off' : 'Camera on', () => room.setCamera(!room.cameraOn));
    const screen = this.#control('room-screen', room.screenSharing ? 'Stop sharing' : 'Share screen', () => (room.screenSharing ? room.stopScreenShare() : room.startScreenShare()));
    const head = el('div', 'room-head');
    head.append(el('h3', '', `Room ${room.roomId}`), el('span', 'sub', `${room.members.length} here · epoch ${room.epoch.sending}`), code, mic, camera, screen, leave);
    const status = el('div', `status ${security.tone}`, `${security.icon} ${security.text}`);
    const notices = el('ul', 'room-notices');
    for (const n of this.#notices) notices.append(el('li', n.startsWith('⚠') ? 'bad' : '', n));
    const grid = el('div', 'room-grid');
    for (const tile of [...this.#tiles.values(), ...this.#screens.values()]) grid.append(tile.element); // moved, not recreated: videos keep playing
    this.element.replaceChildren(head, status, grid, notices);
    this.#onChange();
  }

  #reset(): void {
    if (this.#meter !== undefined) clearInterval(this.#meter);
    void this.#audio?.close();
    this.#audio = undefined;
    this.#room = undefined;
    this.#tiles.clear();
    this.#screens.clear();
    this.#notices.length = 0;
    this.element.replaceChildren();
    this.element.hidden = true;
    this.#onChange();
  }
}
