// The transform step's transformer for DIME received over DMTP: the stored D/MIME message is
// verified again and opened (as destination with the HSM org key, as recipient with the user's
// unwrapped key), rebuilt into the original RFC 5322 message byte for byte with the verification
// trace headers, and a Received line for this hop on top. RFC 5322 messages pass through unchanged
// (the outbound DIME sealing happens at delivery, per recipient), except that on their way to the
// legacy server any X-DIME-* verification field in their header section is removed: only this
// gateway may claim a message was verified (dime-trace-headers.ts); the same goes for such fields
// inside an opened DIME message, below the gateway's own. A message that fails verification
// for good is refused for its recipient (DSN, headers only); a transient failure fails the step,
// which is retried: never delivered as if verified.
import type { DimeInboundOpenInput, DimeInboundOpened } from '../dime/open/dime-inbound-opener';
import { isDimeOpenError } from '../dime/open/dime-open.error';
import { receivedHeader } from '../smtp/trace-headers';
import { stripDimeTraceFields } from './dime-trace-headers';
import type { MessageTransformer } from './message-transformer';
import type { DeliveryGroup, PipelineContext } from './pipeline-context';

export interface InboundOpener {
  open(input: DimeInboundOpenInput): Promise<DimeInboundOpened>;
}

export class DimeOpenTransformer implements MessageTransformer {
  constructor(
    private readonly opener: InboundOpener,
    private readonly hostname: string,
  ) {}

  async transform(ctx: PipelineContext, group: DeliveryGroup): Promise<Uint8Array | undefined> {
    const { message } = ctx;
    if (message.format !== 'dime') {
      if (group.route !== 'legacy') return undefined;
      const stripped = stripDimeTraceFields(await ctx.readBody());
      if (stripped) ctx.logger.warn('removed X-DIME-* verification fields this gateway did not write');
      return stripped;
    }
    if (group.route !== 'legacy' || group.recipients.length !== 1) {
      // classify refuses non-local recipients; acceptance records exactly one recipient per DIME message
      ctx.reject(group.recipients, '554 5.7.1 a DIME message is delivered to its one local recipient only');
      return undefined;
    }
    const recipient = group.recipients[0]!;
    let opened: DimeInboundOpened;
    try {
      opened = await this.opener.open({
        message: await ctx.readBody(),
        originDomain: message.mailFrom.slice(message.mailFrom.lastIndexOf('@') + 1),
        recipient: recipient.address,
        signal: ctx.signal,
      });
    } catch (err) {
      if (isDimeOpenError(err) && !err.transient) {
        ctx.logger.warn({ code: err.code, reply: err.reply }, 'stored DIME message failed verification; refused');
        ctx.reject(group.recipients, err.reply);
        return undefined;
      }
      throw err;
    }
    const received = receivedHeader({
      helo: message.clientHelo,
      clientAddress: message.clientAddress,
      hostname: this.hostname,
      secure: true,
      authenticated: false,
      queueId: message.queueId,
      date: message.receivedAt,
      protocol: 'DMTP',
    });
    ctx.logger.info({ author: opened.author, origin: opened.originDomain, recipient: opened.recipient }, 'DIME message verified and opened');
    const own = Buffer.byteLength(opened.traceHeaders, 'latin1');
    const clean = stripDimeTraceFields(opened.rfc5322, own);
    if (clean) ctx.logger.warn({ author: opened.author }, 'removed X-DIME-* verification fields the author wrote into the message');
    return Buffer.concat([received, clean ?? opened.rfc5322]);
  }
}
