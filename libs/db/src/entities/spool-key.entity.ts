// Data keys that encrypt the spool (AES-256-GCM), stored only wrapped under the HSM key-encryption
// key: the database alone cannot decrypt the spool. Every gateway node unwraps the current key once.
import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

@Entity({ name: 'spool_keys' })
export class SpoolKeyEntity {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  /** AES key wrap (with padding) of the 32-byte data key under the HSM KEK. */
  @Column({ name: 'wrapped_key', type: 'bytea' })
  wrappedKey!: Buffer;

  /** Label of the HSM key that wrapped it. */
  @Column({ name: 'kek_label', type: 'text' })
  kekLabel!: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}
