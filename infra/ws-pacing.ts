// A terminal's bytes relayed between sockets at the pace of the slowest side: the container host
// passes a TTY's output to the API and the API passes it to the subject (and keystrokes the other
// way). `ws` queues whatever it is asked to send, so without this a shell running `yes` for a
// subject on a slow link (or one who stopped reading) grew the queue of every hop until the
// process ran out of memory; paused instead, the pause reaches the program in the container,
// whose writes to its TTY block, as they would on a real terminal.
import type { WebSocket } from 'ws';

/** More than this waiting to be written pauses the source; the source resumes below a quarter of it. */
export const PACE_BYTES = 1024 * 1024;

/** What produces the bytes: a stream (the TTY), or a WebSocket, which `ws` can pause. */
export interface Source { pause(): unknown; resume(): unknown }

/**
 * A sender of frames to `to` that pauses `from` while more than PACE_BYTES wait to be written to
 * `to`, and resumes it once the frames already handed over have been written down to a quarter.
 * Frames sent while `to` is not open are dropped, as `ws` would.
 */
export function pacedSender(to: WebSocket, from: Source): (data: Buffer | string, binary: boolean) => void {
  let paused = false;
  const written = () => {
    if (paused && to.bufferedAmount <= PACE_BYTES / 4) {
      paused = false;
      from.resume();
    }
  };
  return (data, binary) => {
    if (to.readyState !== to.OPEN) return;
    to.send(data, { binary }, written);
    if (!paused && to.bufferedAmount > PACE_BYTES) {
      paused = true;
      from.pause();
    }
  };
}

/**
 * A writer of keystrokes into `to` (the TTY's stream) that pauses `from` (the subject's socket)
 * while `to` holds more than it wants, until it drains: a subject pasting faster than the program
 * in the container reads waits, instead of queueing it here.
 */
export function pacedWriter(to: { write(data: Buffer): boolean; once(event: 'drain', listener: () => void): unknown }, from: Source): (data: Buffer) => void {
  let paused = false;
  return (data) => {
    if (to.write(data) || paused) return;
    paused = true;
    from.pause();
    to.once('drain', () => {
      paused = false;
      from.resume();
    });
  };
}
