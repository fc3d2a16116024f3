// What every pipeline step sees and may change for one message: the message record, its open
// recipients, the spooled bytes (read once, authenticated), the routes chosen by `classify`, the
// bytes `transform` wants delivered per (route, domain), and recipients refused by `policy`.
// Nothing here is durable: `dispatch` writes the decisions down at the end, so a failed or
// timed-out step leaves the message as it was and the retried job starts over.
import type { QueuedMessage, QueuedRecipient, RecipientRoute } from '@lib/db';
import type { GatewayLogger } from '../observability/logger';

/** All open recipients of one message that go to one domain over one route: one SMTP transaction. */
export interface DeliveryGroup {
  readonly route: RecipientRoute;
  readonly domain: string;
  readonly recipients: readonly QueuedRecipient[];
}

/** A recipient the pipeline refuses for good; `reply` is an SMTP-style reply for the DSN. */
export interface Rejection {
  readonly recipient: QueuedRecipient;
  readonly reply: string;
}

export function groupKey(route: RecipientRoute, domain: string): string {
  return `${route}/${domain}`;
}

export class PipelineContext {
  private body: Promise<Buffer> | undefined;
  private readonly routes = new Map<string, RecipientRoute>();
  private readonly bodies = new Map<string, Uint8Array>();
  private readonly rejected = new Map<string, Rejection>();

  constructor(
    readonly message: QueuedMessage,
    /** Recipients still 'pending' (a re-run after a crash sees only those). */
    readonly recipients: readonly QueuedRecipient[],
    readonly logger: GatewayLogger,
    private readonly readSpool: (messageId: string) => Promise<Buffer>,
    /** Aborted when the running step times out: long steps should stop early. */
    public signal: AbortSignal = new AbortController().signal,
  ) {}

  /** The accepted message bytes, read and authenticated once per job. */
  readBody(): Promise<Buffer> {
    this.body ??= this.readSpool(this.message.id);
    return this.body;
  }

  /** Recipients not refused so far. */
  get accepted(): QueuedRecipient[] {
    return this.recipients.filter((r) => !this.rejected.has(r.id));
  }

  reject(recipients: readonly QueuedRecipient[], reply: string): void {
    for (const recipient of recipients) if (!this.rejected.has(recipient.id)) this.rejected.set(recipient.id, { recipient, reply });
  }

  get rejections(): Rejection[] {
    return [...this.rejected.values()];
  }

  setRoute(recipient: QueuedRecipient, route: RecipientRoute): void {
    this.routes.set(recipient.id, route);
  }

  routeOf(recipient: QueuedRecipient): RecipientRoute | undefined {
    return this.routes.get(recipient.id);
  }

  /** Accepted, routed recipients grouped by (route, domain), in a stable order. */
  groups(): DeliveryGroup[] {
    const groups = new Map<string, { route: RecipientRoute; domain: string; recipients: QueuedRecipient[] }>();
    for (const r of this.accepted) {
      const route = this.routes.get(r.id);
      if (!route) continue;
      const key = groupKey(route, r.domain);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { route, domain: r.domain, recipients: [] }));
      g.recipients.push(r);
    }
    return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
  }

  /** Replaces the bytes delivered to one group (the DIME issue seals here). */
  setBody(group: Pick<DeliveryGroup, 'route' | 'domain'>, bytes: Uint8Array): void {
    this.bodies.set(groupKey(group.route, group.domain), bytes);
  }

  /** The replacement bytes of a group, or undefined: deliver the accepted bytes. */
  bodyOf(group: Pick<DeliveryGroup, 'route' | 'domain'>): Uint8Array | undefined {
    return this.bodies.get(groupKey(group.route, group.domain));
  }
}
