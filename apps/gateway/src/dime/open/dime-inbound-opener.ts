// The inbound DIME step of the pipeline, on the accepted and stored bytes: verify everything again
// (DimeMessageVerifier: the stored bytes are not trusted because the door checked them once; only
// the door's verdict on exactly these bytes, in this process, within a minute, stands in for it,
// with the recipient's status checked again: door-verdict-memo.ts), rebuild
// the original RFC 5322 message byte for byte (joinRfc5322) and put the trace headers on top:
//   X-DIME-Verified: pass (origin=a.test; author=alice@a.test)
//   X-DIME-Origin-Signet: <crypto fingerprint of the origin org signet>
//   X-DIME-Author-Signet: <crypto fingerprint of the author signet>
// (the coordinator's delivery adds one Received:). Any failure throws DimeOpenError: a message is
// never delivered as verified unless every check passed.
import { isDimeError, joinRfc5322 } from '@lib/dime';
import { DimeOpenError } from './dime-open.error';
import type { DimeMessageVerifier, VerifiedDimeMessage } from './dime-message-verifier';
import type { DoorVerdictMemo } from './door-verdict-memo';

export interface DimeInboundOpenInput {
  /** The D/MIME message as accepted over DMTP. */
  readonly message: Uint8Array;
  /** MAIL FROM of the DMTP session (recorded at acceptance), if known. */
  readonly originDomain?: string;
  /** The recipient the door check returned (recorded at acceptance), if known. */
  readonly recipient?: string;
  readonly signal?: AbortSignal;
}

export interface DimeInboundOpened {
  /** Trace headers + the original message. */
  readonly rfc5322: Buffer;
  readonly recipient: string;
  readonly author: string;
  readonly originDomain: string;
  /** Just the trace header lines that were prepended. */
  readonly traceHeaders: string;
}

export class DimeInboundOpener {
  constructor(
    private readonly verifier: DimeMessageVerifier,
    /** The door's verdicts of this process: the same bytes it passed a moment ago are not verified twice. */
    private readonly memo?: DoorVerdictMemo,
  ) {}

  async open(input: DimeInboundOpenInput): Promise<DimeInboundOpened> {
    const remembered = this.memo?.take(input.message, input.originDomain, input.recipient);
    if (remembered) await this.verifier.recheckRecipient(remembered.recipient);
    const verified: VerifiedDimeMessage =
      remembered ??
      (await this.verifier.verify({
        message: input.message,
        ...(input.originDomain !== undefined ? { originDomain: input.originDomain } : {}),
        ...(input.recipient !== undefined ? { recipient: input.recipient } : {}),
        ...(input.signal ? { signal: input.signal } : {}),
      }));
    let original: Buffer;
    try {
      const { commonHeaders, otherHeaders, display, attachments } = verified.opened;
      original = joinRfc5322({ commonHeaders, otherHeaders, display, attachments });
    } catch (err) {
      if (isDimeError(err)) throw DimeOpenError.fromDimeError('MALFORMED', err);
      throw err;
    }
    const eol = lineEnding(original);
    const traceHeaders =
      `X-DIME-Verified: pass (origin=${verified.originDomain}; author=${verified.author})${eol}` +
      `X-DIME-Origin-Signet: ${verified.originSignetFingerprint}${eol}` +
      `X-DIME-Author-Signet: ${verified.authorSignetFingerprint}${eol}`;
    return {
      rfc5322: Buffer.concat([Buffer.from(traceHeaders, 'latin1'), original]),
      recipient: verified.recipient,
      author: verified.author,
      originDomain: verified.originDomain,
      traceHeaders,
    };
  }
}

/** The message's own line ending (LF-only messages get LF-only trace headers). */
function lineEnding(message: Buffer): string {
  const lf = message.indexOf(0x0a);
  return lf > 0 && message[lf - 1] === 0x0d ? '\r\n' : lf === -1 ? '\r\n' : '\n';
}
