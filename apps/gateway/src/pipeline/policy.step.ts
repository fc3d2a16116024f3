// Step `policy`: rules that refuse a message or a recipient for good before anything is routed.
//  - The spool copy must authenticate (AES-GCM) and match the size and SHA-256 recorded at
//    acceptance; otherwise the message is never delivered (tampered or lost spool).
//  - The envelope must be sane: the sender is empty (a bounce) or local@domain; each recipient is
//    local@domain of its recorded domain.
//  - A message with too many Received headers is a mail loop (RFC 5321 6.3) and is refused.
// A spool I/O error is not a verdict: it throws, and the job is retried.
import { createHash } from 'node:crypto';
import type { QueuedRecipient } from '@lib/db';
import { SpoolError } from '../spool/spool.service';
import type { PipelineContext } from './pipeline-context';
import type { PipelineStep } from './pipeline-step';

/** Postfix's default hopcount_limit. */
export const MAX_RECEIVED_HEADERS = 50;

const ADDRESS = /^[^\s<>@",;:\\[\]()]+(\.[^\s<>@",;:\\[\]()]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i;

export function isMailboxAddress(address: string): boolean {
  return address.length <= 254 && ADDRESS.test(address);
}

export class PolicyStep implements PipelineStep {
  readonly name = 'policy';

  constructor(readonly timeoutMs: number) {}

  async run(ctx: PipelineContext): Promise<void> {
    const { message } = ctx;
    let body: Buffer;
    try {
      body = await ctx.readBody();
    } catch (err) {
      if (err instanceof SpoolError && err.code !== 'IO' && err.code !== 'ABORTED') {
        ctx.logger.error({ code: err.code }, 'spool copy unusable; the message will never be delivered');
        ctx.reject(ctx.recipients, `554 5.3.0 message held: spool copy unusable (${err.code})`);
        return;
      }
      throw err;
    }
    if (body.length !== message.size || !createHash('sha256').update(body).digest().equals(message.sha256)) {
      ctx.logger.error('spool copy differs from the accepted message; the message will never be delivered');
      ctx.reject(ctx.recipients, '554 5.3.0 message held: spool copy does not match the accepted message');
      return;
    }
    if (message.mailFrom !== '' && !isMailboxAddress(message.mailFrom)) {
      ctx.reject(ctx.recipients, '553 5.1.7 bad sender address syntax');
      return;
    }
    const hops = countReceived(body);
    if (hops > MAX_RECEIVED_HEADERS) {
      ctx.reject(ctx.recipients, `554 5.4.6 too many hops (${hops} Received headers): mail loop`);
      return;
    }
    const bad: QueuedRecipient[] = ctx.recipients.filter(
      (r) => !isMailboxAddress(r.address) || r.address.slice(r.address.lastIndexOf('@') + 1).toLowerCase() !== r.domain,
    );
    if (bad.length > 0) ctx.reject(bad, '553 5.1.3 bad recipient address syntax');
  }
}

/** Received header fields in the header section (up to the first empty line). */
export function countReceived(message: Buffer): number {
  const end = headerEnd(message);
  const head = message.toString('latin1', 0, end);
  const m = head.match(/(^|\r\n)received:/gi);
  return m ? m.length : 0;
}

/** Offset just past the header section's last CRLF (before the empty line), or the whole message. */
export function headerEnd(message: Uint8Array): number {
  const buf = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  if (buf.subarray(0, 2).toString('latin1') === '\r\n') return 0;
  const i = buf.indexOf('\r\n\r\n');
  return i < 0 ? buf.length : i + 2;
}
