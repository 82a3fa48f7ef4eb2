// An SFU node in its own process for room-sfu-pipe.test.ts: an `Sfu` whose member API the parent drives
// (`serveSfu` ↔ `RemoteSfu`) and which is joined to the parent's SFU (named 'a' there) by a peer link, both over
// this process's IPC channel. It ends when the parent disconnects.
import { Sfu, ipcPeerLink, serveSfu } from '@mtcall/sfu';

const sfu = await Sfu.start({ workers: 1 });
sfu.addPeer(process.env.MTCALL_SFU_PEER ?? 'a', ipcPeerLink(process));
serveSfu(sfu, process);
process.on('disconnect', () => {
  sfu.close();
  process.exit(0);
});
process.send({ ready: true });
