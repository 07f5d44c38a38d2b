// A TCP pass-through in front of the gateway for answers lost on the way: it can refuse new
// connections (the agent spools meanwhile), drop the gateway's `ack` frames (JetStream holds what
// the agent keeps unacked) or the agent's `command.result` frames (a command ran, its answer is
// lost), while every other frame passes.
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

export interface LossyLink {
  url: string;
  /** While on, new connections are closed at once (the agent keeps retrying). */
  refuse(on: boolean): void;
  /** While on, `ack` frames from the gateway are dropped; everything else passes. */
  dropAcks(on: boolean): void;
  /** While on, the agent's `command.result` frames are dropped: commands run, answers are lost. */
  dropResults(on: boolean): void;
  /** Drops every open link (both sides see the socket die). */
  cut(): void;
  stop(): Promise<void>;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Splits one direction's bytes into the HTTP upgrade head and WebSocket frames (the agent masks
 * its frames, the gateway does not; neither compresses) and forwards each frame unless `drop`
 * says no to its text.
 */
function frameFilter(to: Socket, drop: (text: string) => boolean): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  let upgraded = false;
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    if (!upgraded) {
      const end = buf.indexOf(HEADER_END);
      if (end < 0) return;
      to.write(buf.subarray(0, end + HEADER_END.length));
      buf = buf.subarray(end + HEADER_END.length);
      upgraded = true;
    }
    for (;;) {
      if (buf.length < 2) return;
      const masked = ((buf[1] ?? 0) & 0x80) !== 0;
      let len = (buf[1] ?? 0) & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        offset = 10;
      }
      const maskAt = offset;
      if (masked) offset += 4;
      if (buf.length < offset + len) return;
      const frame = buf.subarray(0, offset + len);
      buf = buf.subarray(offset + len);
      const isText = ((frame[0] ?? 0) & 0x0f) === 1;
      let text = '';
      if (isText) {
        const payload = Buffer.from(frame.subarray(offset));
        if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= frame[maskAt + (i % 4)]!;
        text = payload.toString('utf8');
      }
      if (!(isText && drop(text))) to.write(frame);
    }
  };
}

export async function startLossyLink(targetPort: number): Promise<LossyLink> {
  const links = new Set<{ client: Socket; upstream: Socket }>();
  let refusing = false;
  let droppingAcks = false;
  let droppingResults = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    const link = { client, upstream };
    links.add(link);
    client.on(
      'data',
      frameFilter(upstream, (t) => droppingResults && t.includes('"type":"command.result"')),
    );
    upstream.on(
      'data',
      frameFilter(client, (t) => droppingAcks && t.includes('"type":"ack"')),
    );
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const cut = () => {
    for (const { client, upstream } of links) {
      client.destroy();
      upstream.destroy();
    }
    links.clear();
  };
  return {
    url: `ws://127.0.0.1:${port}`,
    refuse(on) {
      refusing = on;
    },
    dropAcks(on) {
      droppingAcks = on;
    },
    dropResults(on) {
      droppingResults = on;
    },
    cut,
    async stop() {
      cut();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
