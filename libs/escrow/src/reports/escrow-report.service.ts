// Builds, renders and signs escrow reports. Every number comes from SQL aggregations
// (EscrowRepository: GROUP BY over journal_records and the escrow tables), never from rows
// streamed into JS, so a period with a million journal records costs one index range scan.
// generate() is what the compliance benchmark times.
import { createHash } from 'node:crypto';
import { publicKeyFingerprint, type AuditRecordInput, type AuditSigner } from '@lib/audit';
import type { EscrowRepository } from '@lib/db';
import { EscrowError } from '../journal/escrow.error';
import {
  ESCROW_REPORT_FORMAT,
  ESCROW_REPORT_SIGNATURE_FORMAT,
  renderEscrowReport,
  reportSigningInput,
  type EscrowReport,
  type EscrowReportFormat,
  type EscrowReportSignature,
} from './escrow-report';

export interface SignedEscrowReport {
  readonly report: EscrowReport;
  readonly file: Buffer;
  /** The detached signature file's text (JSON). */
  readonly signature: string;
}

/** The audit trail (AuditService): a signed report is itself recorded, and the trail checkpointed so the anchor covers it. */
export interface EscrowReportTrail {
  record(input: AuditRecordInput): Promise<unknown>;
  checkpoint(): Promise<unknown>;
}

export class EscrowReportService {
  private readonly clock: () => Date;

  constructor(
    private readonly repository: Pick<EscrowRepository, 'recordCountsByPolicy' | 'requestCountsByDomain' | 'principalCounts' | 'exportsIn' | 'latestAuditCheckpoint'>,
    private readonly signer: AuditSigner,
    clock?: () => Date,
    private readonly trail?: EscrowReportTrail,
  ) {
    this.clock = clock ?? (() => new Date());
  }

  /** The report of [from, to). */
  async generate(period: { readonly from: Date; readonly to: Date }): Promise<EscrowReport> {
    const { from, to } = period;
    if (!(from instanceof Date) || !(to instanceof Date) || Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) {
      throw new EscrowError('INVALID_INPUT', 'the report period needs valid from and to dates');
    }
    if (from.getTime() >= to.getTime()) throw new EscrowError('INVALID_INPUT', '"from" must be before "to"');
    // the anchor first: everything counted below happened no earlier than the trail state it names
    const anchor = await this.repository.latestAuditCheckpoint();
    const [records, requests, principals, exports] = await Promise.all([
      this.repository.recordCountsByPolicy(from, to),
      this.repository.requestCountsByDomain(from, to),
      this.repository.principalCounts(from, to),
      this.repository.exportsIn(from, to),
    ]);
    const sum = <T,>(xs: readonly T[], pick: (x: T) => number): number => xs.reduce((n, x) => n + pick(x), 0);
    return {
      format: ESCROW_REPORT_FORMAT,
      period: { from: from.toISOString(), to: to.toISOString() },
      generatedAt: this.clock().toISOString(),
      anchor: anchor === null ? null : { checkpointSeq: anchor.seq, checkpointHash: anchor.hash.toString('hex'), checkpointTime: anchor.time.toISOString() },
      records,
      requests,
      principals,
      exports: exports.map((e) => ({
        requestId: e.requestId,
        case: e.caseRef,
        domain: e.domain,
        by: e.exportedBy,
        at: e.exportedAt.toISOString(),
        records: e.recordCount,
        fileSha256: e.fileSha256.toString('hex'),
        approvers: e.approvers,
      })),
      totals: {
        records: sum(records, (x) => x.records),
        opened: sum(requests, (x) => x.opened),
        approved: sum(requests, (x) => x.approved),
        denied: sum(requests, (x) => x.denied),
        expired: sum(requests, (x) => x.expired),
        exported: sum(requests, (x) => x.exported),
      },
    };
  }

  /** The rendered file and its detached signature (HSM audit key). */
  async sign(report: EscrowReport, format: EscrowReportFormat): Promise<SignedEscrowReport> {
    const file = renderEscrowReport(report, format);
    const sha256 = createHash('sha256').update(file).digest('hex');
    const signature = await this.signer.sign(reportSigningInput(sha256));
    const sig: EscrowReportSignature = {
      format: ESCROW_REPORT_SIGNATURE_FORMAT,
      algorithm: 'ECDSA-P256-SHA256',
      keyLabel: this.signer.keyLabel,
      publicKeyFingerprint: publicKeyFingerprint(await this.signer.publicKeySpki()),
      sha256,
      reportFormat: format,
      anchor: report.anchor,
      signature: signature.toString('base64'),
    };
    return { report, file, signature: `${JSON.stringify(sig, null, 2)}\n` };
  }

  /**
   * generate + sign. With a trail, the report is first recorded (`escrow.report`) and the trail
   * checkpointed, so the report's anchor is the trail's head, this very entry included.
   */
  async generateSigned(period: { readonly from: Date; readonly to: Date }, format: EscrowReportFormat, actor = 'system:escrow-report'): Promise<SignedEscrowReport> {
    if (this.trail !== undefined) {
      await this.trail.record({
        actor,
        action: 'escrow.report',
        objectType: 'escrow-report',
        objectId: null,
        outcome: 'success',
        details: { from: period.from.toISOString(), to: period.to.toISOString(), format },
      });
      await this.trail.checkpoint();
    }
    return this.sign(await this.generate(period), format);
  }
}
