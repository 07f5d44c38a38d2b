// A TCP pass-through in front of the gateway for "the gateway stored it, the agent never heard":
// it can refuse new connections (the agent spools meanwhile) and drop the gateway's `ack` frames
// while every other frame passes, so the agent keeps unacked what JetStream already holds.
import { createServer, type Socket, connect as tcpConnect } from 'node:net';

export interface LossyLink {
  url: string;
  /** While on, new connections are closed at once (the agent keeps retrying). */
  refuse(on: boolean): void;
  /** While on, `ack` frames from the gateway are dropped; everything else passes. */
  dropAcks(on: boolean): void;
  /** Drops every open link (both sides see the socket die). */
  cut(): void;
  stop(): Promise<void>;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * Splits the gateway → agent byte stream into the HTTP upgrade answer and WebSocket frames (server
 * frames are unmasked; the gateway does not compress) and forwards each, unless it is a dropped ack.
 */
function downstreamFilter(client: Socket, dropping: () => boolean): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  let upgraded = false;
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    if (!upgraded) {
      const end = buf.indexOf(HEADER_END);
      if (end < 0) return;
      client.write(buf.subarray(0, end + HEADER_END.length));
      buf = buf.subarray(end + HEADER_END.length);
      upgraded = true;
    }
    for (;;) {
      if (buf.length < 2) return;
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
      if (buf.length < offset + len) return;
      const frame = buf.subarray(0, offset + len);
      buf = buf.subarray(offset + len);
      const text = ((frame[0] ?? 0) & 0x0f) === 1;
      const isAck = text && frame.subarray(offset).toString('utf8').includes('"type":"ack"');
      if (!(isAck && dropping())) client.write(frame);
    }
  };
}

export async function startLossyLink(targetPort: number): Promise<LossyLink> {
  const links = new Set<{ client: Socket; upstream: Socket }>();
  let refusing = false;
  let dropping = false;
  const server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    const link = { client, upstream };
    links.add(link);
    client.pipe(upstream);
    upstream.on(
      'data',
      downstreamFilter(client, () => dropping),
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
      dropping = on;
    },
    cut,
    async stop() {
      cut();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
