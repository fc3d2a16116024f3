// Test and demo tool: turns the two decrypted application-data streams of a DMTP session (client ->
// server, server -> client; test/tls/tls13-decrypt.ts) back into the dialogue, in order: the
// banner, each command with its reply, and the binary D/MIME message after `354` (docs/dmtp.md §5).
// DMTP is lock-step (one reply per command), so the two streams interleave by counting.
import { DMTP_MAX_COMMAND_LINE, DmtpReplyReader, DmtpStreamReader, type DmtpReply } from '@lib/dime';

export interface DmtpTranscriptEntry {
  readonly from: 'client' | 'server';
  /** A command line, a reply's lines as sent (`250-...`, last `250 ...`) joined with `\n`, or `<D/MIME message, N octets>`. */
  readonly text: string;
  readonly reply?: DmtpReply;
  /** The D/MIME message sent after `354`. */
  readonly message?: Buffer;
}

export interface DmtpTranscript {
  readonly entries: readonly DmtpTranscriptEntry[];
  readonly commands: readonly string[];
  readonly replies: readonly DmtpReply[];
  /** Every D/MIME message the client sent, in order. */
  readonly messages: readonly Buffer[];
}

/** Rebuilds the dialogue; a stream that is not DMTP (or is cut short) throws DimeError from the readers. */
export function dmtpTranscript(clientToServer: Uint8Array, serverToClient: Uint8Array): DmtpTranscript {
  const replies = new DmtpReplyReader().push(serverToClient);
  const reader = new DmtpStreamReader({ maxLineLength: DMTP_MAX_COMMAND_LINE });
  reader.push(clientToServer);
  const entries: DmtpTranscriptEntry[] = [];
  const commands: string[] = [];
  const messages: Buffer[] = [];
  let next = 0;
  const reply = (): DmtpReply | undefined => {
    const r = replies[next++];
    if (r) entries.push({ from: 'server', text: r.lines.map((l, i) => `${r.code}${i < r.lines.length - 1 ? '-' : ' '}${l}`.trimEnd()).join('\n'), reply: r });
    return r;
  };
  reply(); // the banner comes first
  for (let line = reader.readLine(); line !== undefined; line = reader.readLine()) {
    commands.push(line);
    entries.push({ from: 'client', text: line });
    const answer = reply();
    if (/^DATA$/i.test(line.trim()) && answer?.code === 354) {
      const message = reader.readMessage();
      if (!message) throw new RangeError(`the client stream ends inside the D/MIME message after DATA (${reader.buffered} octets left)`);
      const copy = Buffer.from(message);
      messages.push(copy);
      entries.push({ from: 'client', text: `<D/MIME message, ${copy.length} octets, binary>`, message: copy });
      reply();
    }
  }
  if (reader.buffered > 0) throw new RangeError(`${reader.buffered} octets at the end of the client stream are not a complete command line`);
  while (next < replies.length) reply();
  return { entries, commands, replies, messages };
}
