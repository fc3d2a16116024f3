// One delivery attempt over DMTP for the open recipients of one message in one DIME domain:
// discover the domain (record, validated org signet, DX hosts), seal one D/MIME message per
// recipient (a DIME message has a single recipient keyslot), then one DMTP session to the first
// DX host that authenticates (the record's `tls=` signatures, else X.509), one transaction per
// sealed message; the session is then kept a while for the next attempt to that host
// (DmtpSessionCache). The domain's DIME policy decides what happens when it cannot be reached as DIME:
//   required  -> a 4xx (deferred, then bounced at the end of the queue lifetime): never SMTP;
//   preferred -> no record / a permanent discovery failure: `fallback` (the caller relays over SMTP
//                under the domain's TLS policy); a transient failure defers like any 4xx.
// Failures the code does not know become 4xx (fail closed: the message waits, nothing in clear).
import type { DimePolicy, QueuedMessage, QueuedRecipient } from '@lib/db';
import type { DimeDirectory, DimeDomain, DmtpEndpoint } from '../dime/dime-directory';
import { discoveryReply, isDiscoveryError } from '../dime/discovery/discovery.error';
import { DmtpClient, replyText, type DmtpPeerCheck, type DmtpTimeouts } from '../dime/dmtp/dmtp-client';
import { isDmtpError } from '../dime/dmtp/dmtp.error';
import type { GatewayLogger } from '../observability/logger';
import { DmtpSessionCache } from './dmtp-session-cache';

/** Seals one RFC 5322 message from a local sender for one recipient (author- and origin-signed). */
export interface MessageSealer {
  seal(input: { readonly rfc5322: Uint8Array; readonly sender: string; readonly recipient: string; readonly signal?: AbortSignal }): Promise<Uint8Array>;
}

/** A sealing failure with its own reply (e.g. a sender who may not send DIME: 5xx). */
export interface SealRefusal {
  readonly reply: string;
}

export interface DmtpOutcome {
  readonly recipient: QueuedRecipient;
  readonly code: number;
  readonly reply: string;
  readonly remoteMta?: string | undefined;
}

export type DmtpAttempt = { readonly kind: 'outcomes'; readonly outcomes: DmtpOutcome[] } | { readonly kind: 'fallback'; readonly reason: string };

export interface DmtpDeliveryDeps {
  readonly directory: DimeDirectory;
  readonly sealer: MessageSealer;
  /** The domain's own DIME policy (domain_policies), or null for the default. */
  readonly policyOf: (domain: string) => Promise<DimePolicy | null>;
  readonly defaultPolicy: DimePolicy;
  /** Our domains: the sender's domain is the origin when it is one of them, else `orgDomain`. */
  readonly localDomains: readonly string[];
  readonly orgDomain: string;
  /** EHLO name. */
  readonly hostname: string;
  readonly timeouts: Partial<DmtpTimeouts>;
  /** Trust anchors for X.509 when the record has no `tls=`. */
  readonly ca: readonly (string | Buffer)[];
  /** Reads the reply of a sealing failure that is a refusal (not a fault); undefined: a fault (4xx). */
  readonly refusalOf?: (err: unknown) => SealRefusal | undefined;
  /** Idle sessions kept for the next attempt (default: a DmtpSessionCache of its own). */
  readonly sessions?: DmtpSessionCache;
}

function codeOf(reply: string, fallback: number): number {
  const n = Number(/^([245]\d\d)\b/.exec(reply)?.[1]);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class DmtpDelivery {
  private readonly local: ReadonlySet<string>;
  private readonly sessions: DmtpSessionCache;

  constructor(private readonly deps: DmtpDeliveryDeps) {
    this.local = new Set(deps.localDomains.map((d) => d.toLowerCase()));
    this.sessions = deps.sessions ?? new DmtpSessionCache();
  }

  /**
   * `onAccepted` runs on each message's 2xx, before the next transaction (the caller records it at
   * once: a crash after it must not send that message again).
   */
  async attempt(
    message: QueuedMessage,
    open: readonly QueuedRecipient[],
    domain: string,
    body: Uint8Array,
    onAccepted: (recipient: QueuedRecipient, reply: string, host: string) => Promise<void>,
    log: GatewayLogger,
    signal?: AbortSignal,
  ): Promise<DmtpAttempt> {
    const all = (code: number, reply: string, remoteMta?: string): DmtpAttempt => ({
      kind: 'outcomes',
      outcomes: open.map((recipient) => ({ recipient, code, reply, remoteMta })),
    });
    const policy = (await this.deps.policyOf(domain)) ?? this.deps.defaultPolicy;
    if (policy === 'off') return { kind: 'fallback', reason: 'DIME policy off' };

    let target: DimeDomain | undefined;
    try {
      target = await this.deps.directory.lookupDomain(domain, signal);
    } catch (err) {
      if (!isDiscoveryError(err)) return all(451, `451 4.3.0 DIME discovery of ${domain} failed: ${messageOf(err)}`);
      if (policy === 'preferred' && !err.transient) return { kind: 'fallback', reason: `${err.code}: ${err.message}` };
      log.info({ code: err.code, err: err.message }, 'DIME discovery failed');
      return all(codeOf(discoveryReply(err), 451), `${discoveryReply(err)} (${domain})`);
    }
    if (!target) {
      if (policy === 'preferred') return { kind: 'fallback', reason: 'no _dx record' };
      return all(451, `451 4.7.5 ${domain} publishes no DIME management record and its DIME policy is required: not sent over SMTP`);
    }

    const outcomes: DmtpOutcome[] = [];
    const sealed: { recipient: QueuedRecipient; bytes: Uint8Array }[] = [];
    for (const recipient of open) {
      try {
        const bytes = await this.deps.sealer.seal({ rfc5322: body, sender: message.mailFrom, recipient: recipient.address, ...(signal ? { signal } : {}) });
        sealed.push({ recipient, bytes });
      } catch (err) {
        const refusal = isDiscoveryError(err) ? { reply: `${discoveryReply(err)} (${recipient.address})` } : this.deps.refusalOf?.(err);
        const reply = refusal?.reply ?? `451 4.3.0 DIME sealing failed: ${messageOf(err)}`;
        log.info({ recipient: recipient.address, reply }, 'not sealed');
        outcomes.push({ recipient, code: codeOf(reply, 451), reply });
      }
    }
    if (sealed.length === 0) return { kind: 'outcomes', outcomes };

    const senderDomain = message.mailFrom.slice(message.mailFrom.lastIndexOf('@') + 1).toLowerCase();
    const originDomain = this.local.has(senderDomain) ? senderDomain : this.deps.orgDomain;
    const peerCheck: DmtpPeerCheck = target.record.tls.length > 0 ? { kind: 'tls-signature', record: target.record } : { kind: 'x509', ca: this.deps.ca };
    let last = `451 4.4.1 no DIME delivery host of ${domain} answered`;
    for (const endpoint of target.endpoints) {
      const key = this.sessions.keyOf(endpoint, peerCheck, this.deps.hostname);
      // a session tied to this attempt's abort signal cannot outlive it: only signal-free ones are cached
      let cached = signal ? undefined : this.sessions.take(key);
      let client: DmtpClient | undefined = cached?.client;
      let uses = cached?.uses ?? 0;
      const host = endpoint.serverName;
      const done = new Set<QueuedRecipient>();
      let reusable = false;
      let unreachable = false;
      try {
        for (let i = 0; i < sealed.length; i++) {
          const { recipient, bytes } = sealed[i]!;
          if (client && uses >= this.sessions.maxUses) {
            // a session carries at most maxUses transactions, within an attempt too
            await client.quit();
            client = cached = undefined;
          }
          if (!client) {
            const opened = await this.open(endpoint, peerCheck, signal, log);
            if (opened.kind === 'failed') {
              last = opened.reply;
              if (opened.permanent) return { kind: 'outcomes', outcomes: [...outcomes, ...sealed.filter(({ recipient: r }) => !done.has(r)).map(({ recipient: r }) => ({ recipient: r, code: codeOf(last, 554), reply: last, remoteMta: host }))] };
              unreachable = true;
              break;
            }
            client = opened.client;
            uses = 0;
          }
          const session = client;
          const before = session.replyCount;
          const onCached = cached !== undefined && session === cached.client;
          const result = await session.deliver({ originDomain, destinationDomain: domain, message: bytes }).catch((err: unknown) => {
            if (onCached && session.replyCount === before) return undefined;
            throw err;
          });
          // a cached session that died while it waited (nothing answered, or a 421 to MAIL): this
          // transaction runs again on a new one
          if (result === undefined || (onCached && result.stage === 'MAIL' && result.reply.code === 421)) {
            client.close();
            client = cached = undefined;
            i--;
            continue;
          }
          uses++;
          const reply = replyText(result.reply);
          if (result.accepted) await onAccepted(recipient, reply, host);
          outcomes.push({ recipient, code: result.reply.code, reply, remoteMta: host });
          done.add(recipient);
          reusable = result.accepted;
          if (result.reply.code === 421) {
            last = reply;
            reusable = false;
            break;
          }
        }
      } catch (err) {
        client?.close();
        client = undefined;
        last = `451 4.4.2 DMTP session with ${host} failed: ${messageOf(err)}`;
        log.info({ host, err: messageOf(err) }, 'DMTP session failed');
      }
      if (client) {
        if (reusable && !signal) this.sessions.put(key, client, uses);
        else await client.quit();
      }
      // no session could be had with this host before any transaction: the next host may do
      if (unreachable && done.size === 0) continue;
      // the rest of this session's messages (a 421 or a broken session) are deferred
      for (const { recipient } of sealed) if (!done.has(recipient)) outcomes.push({ recipient, code: codeOf(last, 451), reply: last, remoteMta: host });
      return { kind: 'outcomes', outcomes };
    }
    return { kind: 'outcomes', outcomes: [...outcomes, ...sealed.map(({ recipient }) => ({ recipient, code: 451, reply: last }))] };
  }

  /** QUITs the idle DMTP sessions (graceful shutdown). */
  close(): Promise<void> {
    return this.sessions.close();
  }

  /** A new session with `endpoint`: connect, authenticate the peer, EHLO. */
  private async open(endpoint: DmtpEndpoint, peerCheck: DmtpPeerCheck, signal: AbortSignal | undefined, log: GatewayLogger): Promise<OpenedSession> {
    let client: DmtpClient;
    try {
      client = await DmtpClient.connect({
        host: endpoint.host,
        port: endpoint.port,
        serverName: endpoint.serverName,
        peerCheck,
        timeouts: this.deps.timeouts,
        ...(endpoint.dualMode ? { dualMode: true } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      log.info({ host: `${endpoint.host}:${endpoint.port}`, err: messageOf(err) }, 'DMTP host failed');
      const reply = isDmtpError(err) && err.code === 'TLS_MISMATCH' ? `451 4.7.5 ${messageOf(err)}` : `451 4.4.1 ${messageOf(err)}`;
      return { kind: 'failed', reply, permanent: false };
    }
    try {
      const ehlo = await client.ehlo(this.deps.hostname);
      if (ehlo.code === 250) return { kind: 'open', client };
      await client.quit();
      return { kind: 'failed', reply: replyText(ehlo), permanent: ehlo.code >= 500 };
    } catch (err) {
      client.close();
      return { kind: 'failed', reply: `451 4.4.2 DMTP session with ${endpoint.serverName} failed: ${messageOf(err)}`, permanent: false };
    }
  }
}

type OpenedSession = { readonly kind: 'open'; readonly client: DmtpClient } | { readonly kind: 'failed'; readonly reply: string; readonly permanent: boolean };
