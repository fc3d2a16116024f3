// One envelope recipient of an accepted message and its delivery state (retries, notices, DSN).
import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { MessageEntity } from './message.entity';

/** legacy: relayed to the organisation's own server; remote: SMTP to the Internet; dmtp: DIME over DMTP to another organisation. */
export type RecipientRoute = 'legacy' | 'remote' | 'dmtp';
export type RecipientStatus = 'pending' | 'queued' | 'deferred' | 'delivered' | 'bounced';

@Entity({ name: 'recipients' })
@Index(['status', 'nextAttemptAt'])
export class RecipientEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Index()
  @Column({ name: 'message_id', type: 'uuid' })
  messageId!: string;

  @ManyToOne(() => MessageEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'message_id' })
  message!: MessageEntity;

  /** Envelope address as given in RCPT TO (without angle brackets). */
  @Column({ type: 'text' })
  address!: string;

  /** Lower-cased domain of the address. */
  @Column({ type: 'text' })
  domain!: string;

  /** Set by the pipeline's classification step. */
  @Column({ type: 'text', nullable: true })
  route!: RecipientRoute | null;

  @Column({ type: 'text', default: 'pending' })
  status!: RecipientStatus;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'next_attempt_at', type: 'timestamptz', nullable: true })
  nextAttemptAt!: Date | null;

  /** The last SMTP reply or failure reason (for logs, DSNs and the admin API). */
  @Column({ name: 'last_reply', type: 'text', nullable: true })
  lastReply!: string | null;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;

  @Column({ name: 'delay_notified_at', type: 'timestamptz', nullable: true })
  delayNotifiedAt!: Date | null;

  @Column({ name: 'bounced_at', type: 'timestamptz', nullable: true })
  bouncedAt!: Date | null;
}
