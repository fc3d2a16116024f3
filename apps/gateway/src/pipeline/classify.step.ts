// Step `classify`: picks each recipient's route.
//  - A recipient in one of the organisation's domains (LOCAL_DOMAINS) is relayed to the legacy server.
//  - Any other recipient goes out over DMTP ('dmtp') or SMTP ('remote') by the domain's DIME policy
//    (domain_policies.dime_policy, else DIME_DEFAULT_POLICY): `off` -> SMTP; `required` -> DMTP
//    (delivery defers, then bounces, when the domain cannot be reached as DIME: never SMTP);
//    `preferred` -> DMTP when the domain publishes a `_dx` record, SMTP when it publishes none.
//    When discovery fails here the recipient still takes 'dmtp': the delivery attempt looks again
//    and falls back to SMTP (preferred) or defers (required), so a DNS hiccup never decides.
// A D/MIME message received over DMTP is only ever for local recipients; anything else is refused.
// The routes stay in the context until `dispatch` stores them (see pipeline-context.ts).
import type { DimePolicy, RecipientRoute } from '@lib/db';
import type { DimeDirectory } from '../dime/dime-directory';
import type { PipelineContext } from './pipeline-context';
import type { PipelineStep } from './pipeline-step';

export interface DimeRouting {
  readonly directory: DimeDirectory;
  readonly policyOf: (domain: string) => Promise<DimePolicy | null>;
  readonly defaultPolicy: DimePolicy;
}

export class ClassifyStep implements PipelineStep {
  readonly name = 'classify';
  private readonly local: ReadonlySet<string>;

  constructor(
    localDomains: readonly string[],
    readonly timeoutMs: number,
    private readonly dime?: DimeRouting,
  ) {
    this.local = new Set(localDomains.map((d) => d.toLowerCase()));
  }

  async run(ctx: PipelineContext): Promise<void> {
    const routes = new Map<string, RecipientRoute>();
    for (const r of ctx.accepted) {
      const domain = r.domain.toLowerCase();
      if (ctx.message.format === 'dime' && !this.local.has(domain)) {
        ctx.reject([r], '554 5.7.1 a DIME message received over DMTP is only delivered to local recipients');
        continue;
      }
      let route = routes.get(domain);
      if (route === undefined) routes.set(domain, (route = await this.routeOf(domain, ctx)));
      ctx.setRoute(r, route);
    }
  }

  private async routeOf(domain: string, ctx: PipelineContext): Promise<RecipientRoute> {
    if (this.local.has(domain)) return 'legacy';
    if (!this.dime) return 'remote';
    const policy = (await this.dime.policyOf(domain)) ?? this.dime.defaultPolicy;
    if (policy === 'off') return 'remote';
    if (policy === 'required') return 'dmtp';
    try {
      return (await this.dime.directory.lookupDomain(domain, ctx.signal)) ? 'dmtp' : 'remote';
    } catch (err) {
      ctx.logger.info({ domain, err: err instanceof Error ? err.message : String(err) }, 'DIME discovery failed; the delivery attempt decides');
      return 'dmtp';
    }
  }
}
