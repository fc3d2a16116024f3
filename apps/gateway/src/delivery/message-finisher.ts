// Ends a message's life in the queue once every recipient is final (delivered or bounced):
// marks it done in PostgreSQL and removes its spool files (accepted bytes and any replacements).
import type { QueuedMessage, QueueRepository } from '@lib/db';
import type { MessageBodyStore } from '../pipeline/message-body.store';

export class MessageFinisher {
  constructor(
    private readonly queue: QueueRepository,
    private readonly bodies: MessageBodyStore,
  ) {}

  /** True when the message was finished by this call. */
  async finishIfComplete(message: Pick<QueuedMessage, 'id'>): Promise<boolean> {
    if (!(await this.queue.finishMessageIfComplete(message.id))) return false;
    const recipients = await this.queue.findRecipientsOfMessage(message.id);
    const groups = new Map(recipients.map((r) => [`${r.route}/${r.domain}`, { route: r.route, domain: r.domain }]));
    await this.bodies.removeAll(message.id, groups.values());
    return true;
  }
}
