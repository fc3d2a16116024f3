// Ends a message's life in the queue once every recipient is final (delivered or bounced):
// marks it done in PostgreSQL and removes its spool files (accepted bytes and any replacements).
import type { QueuedMessage, QueueRepository, SpoolGroup } from '@lib/db';
import type { MessageBodyStore } from '../pipeline/message-body.store';

export class MessageFinisher {
  constructor(
    private readonly queue: QueueRepository,
    private readonly bodies: MessageBodyStore,
  ) {}

  /** True when the message was finished by this call. */
  async finishIfComplete(message: Pick<QueuedMessage, 'id'>): Promise<boolean> {
    // one round trip: the update and the groups whose spool replacements go with it
    const groups = await this.queue.finishMessageReturningGroups(message.id);
    if (groups === null) return false;
    await this.removeFiles(message, groups);
    return true;
  }

  /** The spool clean-up of a message another statement finished (DeliveredMarker), with its groups. */
  async removeFiles(message: Pick<QueuedMessage, 'id'>, groups: Iterable<SpoolGroup>): Promise<void> {
    await this.bodies.removeAll(message.id, groups);
  }
}
