// Where delivery finds the bytes of a (route, domain) group: the accepted spool file, or a
// replacement written by `dispatch` when `transform` changed the bytes (DIME sealing). The
// replacement lives in the spool under an id derived from (message id, route, domain), so no
// schema or job payload carries it, and it is written before the recipients are marked 'queued':
// a delivery job can only exist once its replacement is durable.
import type { RecipientRoute, SpoolGroup } from '@lib/db';
import type { SpoolService } from '../spool/spool.service';
import { nameBasedUuid } from './name-based-uuid';

/** A UUID (version 8, name-based) naming the replacement bytes of one group of one message. */
export function bodyVariantId(messageId: string, route: RecipientRoute, domain: string): string {
  return nameBasedUuid(`dime-gateway body/${messageId}/${route}/${domain}`);
}

export class MessageBodyStore {
  constructor(private readonly spool: SpoolService) {}

  /** The accepted bytes, authenticated. */
  readAccepted(messageId: string): Promise<Buffer> {
    return this.spool.read(messageId);
  }

  async writeVariant(messageId: string, route: RecipientRoute, domain: string, bytes: Uint8Array): Promise<void> {
    await this.spool.write(bodyVariantId(messageId, route, domain), bytes);
  }

  /**
   * The bytes to deliver to a group: its replacement when there is one, else the accepted bytes.
   * `hasVariant` is what dispatch recorded in the deliver job (it wrote the replacement or not);
   * undefined (a job the recovery sweeper made) looks in the spool.
   */
  async readForDelivery(messageId: string, route: RecipientRoute, domain: string, hasVariant?: boolean): Promise<Buffer> {
    const variant = bodyVariantId(messageId, route, domain);
    const useVariant = hasVariant ?? (await this.spool.exists(variant));
    return useVariant ? this.spool.read(variant) : this.spool.read(messageId);
  }

  /** Removes the accepted file and every replacement (once the message is finished). */
  async removeAll(messageId: string, groups: Iterable<SpoolGroup>): Promise<void> {
    const removals = [this.spool.remove(messageId)];
    for (const g of groups) if (g.route) removals.push(this.spool.remove(bodyVariantId(messageId, g.route, g.domain), false));
    await Promise.all(removals);
  }
}
