// Queue names and typed job payloads (STYLE.md 8): payloads carry ids only (never message bodies
// or keys: Redis holds no secrets), and each job's id is its natural key so that a re-enqueue
// (recovery sweep, retry after a crash) is harmless.

export const QUEUES = {
  /** Runs the pipeline (policy, classification, transformation, journal hook) on an accepted message. */
  process: 'gateway-process',
  /** Delivers one message's recipients for one next hop (domain) and route. */
  delivery: 'gateway-delivery',
  /** The retention sweep (repeatable): review queueing, crypto-shredding with signed certificates, blob deletion. */
  retentionSweep: 'compliance-retention-sweep',
  /** Builds the encrypted export of one approved escrow request (libs/escrow recovery). */
  escrowExport: 'escrow-export',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export interface ProcessJob {
  readonly name: 'process';
  readonly data: { readonly messageId: string };
}

export interface DeliverJob {
  readonly name: 'deliver';
  readonly data: {
    readonly messageId: string;
    /** Lower-cased recipient domain: all open recipients of the message in this domain go together. */
    readonly domain: string;
    readonly route: 'legacy' | 'remote' | 'dmtp';
    /** Which attempt this job is (1-based); part of the job id so a retry is a new job. */
    readonly attempt: number;
    /**
     * Whether dispatch wrote replacement bytes for this group (not part of the job id). Absent in
     * jobs the recovery sweeper makes from the database: delivery then looks in the spool.
     */
    readonly variant?: boolean;
  };
}

export interface EscrowExportJob {
  readonly name: 'escrow-export';
  /** The request id only: the job re-reads and re-checks the approval itself. */
  readonly data: { readonly requestId: string };
}

/** One retention sweep run; `run` names the schedule slot (e.g. `repeat` or an operator-triggered uuid), no secrets. */
export interface RetentionSweepJob {
  readonly name: 'retention-sweep';
  readonly data: { readonly run: string };
}

export type JobItem = ProcessJob | DeliverJob | RetentionSweepJob | EscrowExportJob;
export type JobOf<N extends JobItem['name']> = Extract<JobItem, { name: N }>;

/**
 * The natural key of a job: enqueueing the same work twice yields one job. Fields are joined with
 * '/' because BullMQ refuses custom job ids containing ':' ("Custom Id cannot contain :").
 */
export function jobIdOf(job: JobItem): string {
  switch (job.name) {
    case 'process':
      return `process/${job.data.messageId}`;
    case 'deliver':
      return `deliver/${job.data.messageId}/${job.data.route}/${job.data.domain}/${job.data.attempt}`;
    case 'retention-sweep':
      return `retention-sweep/${job.data.run}`;
    case 'escrow-export':
      return `escrow-export/${job.data.requestId}`;
  }
}
