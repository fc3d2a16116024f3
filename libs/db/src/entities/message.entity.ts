// One accepted message: envelope, where its encrypted spool copy lives, and its lifetime in the
// queue. Recipients carry the per-recipient delivery state.
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

export type MessageDirection = 'outbound' | 'inbound';
export type MessageState = 'queued' | 'done';
/** rfc5322: a mail message as received over SMTP; dime: a D/MIME message received over DMTP. */
export type MessageFormat = 'rfc5322' | 'dime';

@Entity({ name: 'messages' })
export class MessageEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  /** Short id printed on every log line and in the 250 reply. */
  @Index({ unique: true })
  @Column({ name: 'queue_id', type: 'text' })
  queueId!: string;

  @Column({ type: 'text' })
  direction!: MessageDirection;

  @Column({ type: 'text', default: 'rfc5322' })
  format!: MessageFormat;

  /** Envelope sender; '' for the null sender (bounces). */
  @Column({ name: 'mail_from', type: 'text' })
  mailFrom!: string;

  @Column({ type: 'integer' })
  size!: number;

  /** SHA-256 of the message bytes as accepted (before encryption). */
  @Column({ type: 'bytea' })
  sha256!: Buffer;

  /** The spool key id that encrypted this message's spool file. */
  @Column({ name: 'spool_key_id', type: 'integer' })
  spoolKeyId!: number;

  @Index()
  @Column({ name: 'header_message_id', type: 'text', nullable: true })
  headerMessageId!: string | null;

  @Column({ name: 'client_address', type: 'text' })
  clientAddress!: string;

  @Column({ name: 'client_helo', type: 'text', nullable: true })
  clientHelo!: string | null;

  @Column({ name: 'auth_user', type: 'text', nullable: true })
  authUser!: string | null;

  @Column({ name: 'received_at', type: 'timestamptz' })
  receivedAt!: Date;

  /** After this, undelivered recipients bounce (queue lifetime). */
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;

  @Column({ type: 'text', default: 'queued' })
  state!: MessageState;
}
