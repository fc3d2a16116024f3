// Reads what Postfix's virtual(8) agent delivered into Maildirs, and separates the trace headers
// the delivering MTAs prepended (Return-Path, Delivered-To, X-Original-To, Received) from the
// message as it was sent. Postfix stores lines with LF; `wire` restores CRLF.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface DeliveredMessage {
  /** Envelope recipient, from the Delivered-To header virtual(8) adds (lower case). */
  recipient: string;
  /** Path of the message file. */
  file: string;
  /** The file as stored: Postfix's trace headers first, LF line endings. */
  raw: Buffer;
  /** `raw` without the leading trace headers (LF line endings, as stored). */
  message: Buffer;
  /**
   * `message` with CRLF line endings: the DATA bytes as the client sent them (after dot
   * unstuffing). Exact because smtpd_forbid_bare_newline = reject lets no bare LF in.
   */
  wire: Buffer;
}

/** Header names (lower case) an MTA prepends on the way; stripped only while they lead the message. */
export const TRACE_HEADERS: ReadonlySet<string> = new Set(['return-path', 'delivered-to', 'x-original-to', 'received']);

/**
 * Offset of the first byte after the leading block of trace headers (and their folded
 * continuation lines). Works on LF or CRLF text.
 */
export function traceHeadersEnd(raw: Uint8Array, names: ReadonlySet<string> = TRACE_HEADERS): number {
  let pos = 0;
  let inTrace = false;
  while (pos < raw.length) {
    const nl = raw.indexOf(0x0a, pos);
    const lineEnd = nl === -1 ? raw.length : nl + 1;
    const first = raw[pos];
    if (first === 0x20 || first === 0x09) {
      if (!inTrace) break;
    } else {
      const colon = raw.indexOf(0x3a, pos);
      if (colon === -1 || colon >= lineEnd) break;
      const name = Buffer.from(raw.buffer, raw.byteOffset + pos, colon - pos).toString('latin1').toLowerCase();
      if (!names.has(name)) break;
      inTrace = true;
    }
    pos = lineEnd;
  }
  return pos;
}

export function stripTraceHeaders(raw: Buffer, names: ReadonlySet<string> = TRACE_HEADERS): Buffer {
  return raw.subarray(traceHeadersEnd(raw, names));
}

/** LF -> CRLF (Postfix stores every CRLF of the wire as LF). */
export function lfToCrlf(text: Buffer): Buffer {
  let count = 0;
  for (let i = text.indexOf(0x0a); i !== -1; i = text.indexOf(0x0a, i + 1)) count++;
  const out = Buffer.allocUnsafe(text.length + count);
  let from = 0;
  let to = 0;
  for (let i = text.indexOf(0x0a); i !== -1; i = text.indexOf(0x0a, i + 1)) {
    to += text.copy(out, to, from, i);
    out[to++] = 0x0d;
    out[to++] = 0x0a;
    from = i + 1;
  }
  text.copy(out, to, from);
  return out;
}

/** CRLF -> LF, to compare a sent message with `message`. */
export function crlfToLf(text: Buffer): Buffer {
  return Buffer.from(text.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}

async function dirEntries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export interface MaildirFile {
  file: string;
  mtimeMs: number;
}

/**
 * Message files under `<base>/<domain>/<box>/{new,cur}`, oldest first (by mtime, then name:
 * Postfix names Maildir files `<seconds>.<unique>.<host>`). Only `new/` and `cur/`: virtual(8)
 * writes into `tmp/` and renames, so files listed here are complete.
 */
export async function listMaildirFiles(base: string): Promise<MaildirFile[]> {
  const files: MaildirFile[] = [];
  for (const domain of await dirEntries(base)) {
    for (const box of await dirEntries(join(base, domain))) {
      for (const sub of ['new', 'cur']) {
        const dir = join(base, domain, box, sub);
        for (const name of await dirEntries(dir)) {
          const file = join(dir, name);
          files.push({ file, mtimeMs: (await stat(file)).mtimeMs });
        }
      }
    }
  }
  return files.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

/** Address in the first Delivered-To header (lower case), '' when there is none. */
export function deliveredTo(raw: Buffer): string {
  const head = raw.subarray(0, traceHeadersEnd(raw)).toString('latin1');
  const match = /^Delivered-To:[ \t]*([^\r\n]*)/im.exec(head);
  return (match?.[1] ?? '').trim().toLowerCase();
}

/** Reads message files; `cache` (by path) avoids re-reading files that Maildir never changes. */
export async function readDelivered(files: readonly MaildirFile[], cache?: Map<string, DeliveredMessage>): Promise<DeliveredMessage[]> {
  const out: DeliveredMessage[] = [];
  for (const f of files) {
    let msg = cache?.get(f.file);
    if (!msg) {
      const raw = await readFile(f.file);
      const message = stripTraceHeaders(raw);
      msg = { recipient: deliveredTo(raw), file: f.file, raw, message, wire: lfToCrlf(message) };
      cache?.set(f.file, msg);
    }
    out.push(msg);
  }
  return out;
}
