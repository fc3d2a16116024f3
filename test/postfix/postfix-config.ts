// Renders main.cf, master.cf and the lookup tables of one throw-away Postfix instance that lives
// entirely in its own directory (config, queue, data, mailboxes, log) and listens on 127.0.0.1 only.
// Pure: no I/O here, so the settings can be read (and asserted) in one place.
import { join } from 'node:path';

export type SmtpTlsSecurityLevel = 'none' | 'may' | 'encrypt' | 'dane' | 'verify' | 'secure';

export interface PostfixTlsFiles {
  /** PEM certificate (chain) the SMTP server presents with STARTTLS. */
  certFile: string;
  /** PEM private key of certFile. */
  keyFile: string;
}

export interface PostfixOptions {
  /** Short name for logs and the hostname (`<name>.test`); distinct hostnames avoid Postfix's "loops back to myself". */
  name?: string;
  /** TCP port on 127.0.0.1; a free one is picked when omitted. */
  port?: number;
  /** Smart host for everything not delivered here, e.g. `[127.0.0.1]:2587`. */
  relayhost?: string;
  /** Domains delivered here, every recipient accepted (catch-all Maildir `<dir>/mail/<domain>/_catchall_/`). */
  mailboxDomains?: readonly string[];
  /** Single addresses delivered here, each to its own Maildir; other users of their domains are rejected at RCPT. */
  mailboxes?: readonly string[];
  /** Domains this instance accepts to relay (with transports or the relayhost). */
  relayDomains?: readonly string[];
  /** transport_maps entries, e.g. `{ 'b.test': 'smtp:[127.0.0.1]:2526' }`. */
  transports?: Readonly<Record<string, string>>;
  /** Default `127.0.0.0/8`. */
  mynetworks?: string;
  /**
   * smtpd_forbid_bare_newline; default `reject`, because with Postfix < 3.9's default (`no`) a
   * bare `\n.\n` ends DATA (SMTP smuggling). Exclusions are emptied so loopback clients count too.
   */
  forbidBareNewline?: 'reject' | 'normalize' | 'no';
  /** Offer STARTTLS with this certificate (smtpd_tls_security_level = may). */
  tls?: PostfixTlsFiles;
  /** The SMTP client's TLS policy when relaying (default `may`, opportunistic). */
  smtpTlsSecurityLevel?: SmtpTlsSecurityLevel;
  /** CA file the SMTP client trusts for `verify`/`secure`. */
  smtpTlsCaFile?: string;
  /** Leave the temp dir (config, queue, maillog, Maildirs) in place after stop(), for debugging. */
  keepDir?: boolean;
  /** Extra or overriding main.cf settings, applied last (e.g. throughput tuning). */
  mainCf?: Readonly<Record<string, string | number>>;
}

/** uid/gid the virtual(8) agent writes mailboxes as (nobody/nogroup on Debian). */
export const MAILBOX_UID = 65534;
export const MAILBOX_GID = 65534;

export interface PostfixLayout {
  dir: string;
  configDir: string;
  queueDir: string;
  dataDir: string;
  mailDir: string;
  logFile: string;
}

export function postfixLayout(dir: string): PostfixLayout {
  return {
    dir,
    configDir: join(dir, 'etc'),
    queueDir: join(dir, 'spool'),
    dataDir: join(dir, 'data'),
    mailDir: join(dir, 'mail'),
    logFile: join(dir, 'maillog'),
  };
}

export interface RenderedPostfixConfig {
  mainCf: string;
  masterCf: string;
  /** Extra files for the config dir, by name. */
  tables: Record<string, string>;
}

/** Catch-all Maildir of a mailbox domain, relative to the mailbox base (trailing slash: Maildir). */
export function catchAllMaildir(domain: string): string {
  return `${domain.toLowerCase()}/_catchall_/`;
}

/** Maildir of a single mailbox address; characters unsafe in a path are hex-escaped. */
export function mailboxMaildir(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) throw new RangeError(`"address" expected local@domain, got ${JSON.stringify(address)}`);
  const local = address
    .slice(0, at)
    .toLowerCase()
    .replace(/[^a-z0-9_+=-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `${address.slice(at + 1).toLowerCase()}/${local}/`;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

function list(values: readonly string[] | undefined): string {
  return (values ?? []).join(', ');
}

export function renderPostfixConfig(layout: PostfixLayout, port: number, options: PostfixOptions): RenderedPostfixConfig {
  const name = options.name ?? 'postfix';
  const mailboxDomains = options.mailboxDomains ?? [];
  const tables: Record<string, string> = {};
  const main: Record<string, string | number> = {
    compatibility_level: '3.6',
    config_directory: layout.configDir,
    queue_directory: layout.queueDir,
    data_directory: layout.dataDir,
    mail_owner: 'postfix',
    setgid_group: 'postdrop',
    // No syslog in CI: postlogd writes this file (maillog_file_prefixes must allow its path).
    maillog_file: layout.logFile,
    maillog_file_prefixes: layout.dir,
    myhostname: `${name}.test`,
    mydomain: 'test',
    myorigin: '$myhostname',
    mydestination: '',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: options.mynetworks ?? '127.0.0.0/8',
    relayhost: options.relayhost ?? '',
    relay_domains: list(options.relayDomains),
    smtpd_relay_restrictions: 'permit_mynetworks, reject_unauth_destination',
    smtpd_recipient_restrictions: '',
    smtpd_banner: '$myhostname ESMTP',
    // Loopback clients are "local" by default: no header rewriting or added headers, so a relayed
    // message keeps its bytes (trace headers apart).
    local_header_rewrite_clients: '',
    disable_mime_output_conversion: 'yes',
    smtpd_forbid_bare_newline: options.forbidBareNewline ?? 'reject',
    smtpd_forbid_bare_newline_exclusions: '',
    alias_maps: '',
    alias_database: '',
    local_recipient_maps: '',
    biff: 'no',
    append_dot_mydomain: 'no',
    smtp_host_lookup: 'native',
    smtp_dns_support_level: 'disabled',
    smtpd_peername_lookup: 'no',
    message_size_limit: 52428800,
    // Test timers: a deferred message is retried within seconds, not minutes.
    queue_run_delay: '1s',
    minimal_backoff_time: '1s',
    maximal_backoff_time: '2s',
    delay_warning_time: '0h',
    smtpd_error_sleep_time: '0s',
    smtp_tls_security_level: options.smtpTlsSecurityLevel ?? 'may',
    smtp_tls_loglevel: 1,
  };
  if (options.smtpTlsCaFile) main.smtp_tls_CAfile = options.smtpTlsCaFile;
  if (options.tls) {
    main.smtpd_tls_security_level = 'may';
    main.smtpd_tls_cert_file = options.tls.certFile;
    main.smtpd_tls_key_file = options.tls.keyFile;
    main.smtpd_tls_loglevel = 1;
  } else {
    main.smtpd_tls_security_level = 'none';
  }
  const mailboxes = options.mailboxes ?? [];
  if (mailboxDomains.length > 0 || mailboxes.length > 0) {
    // virtual(8) delivery into Maildirs (no Unix accounts needed): exact addresses first, then
    // `@domain` catch-alls. Postfix forbids regexp substitution in this map, hence the table.
    tables.vmailbox = [
      ...mailboxes.map((a) => `${a.toLowerCase()} ${mailboxMaildir(a)}\n`),
      ...mailboxDomains.map((d) => `@${d.toLowerCase()} ${catchAllMaildir(d)}\n`),
    ].join('');
    main.virtual_mailbox_domains = [...new Set([...mailboxDomains.map((d) => d.toLowerCase()), ...mailboxes.map(domainOf)])].join(', ');
    main.virtual_mailbox_base = layout.mailDir;
    main.virtual_mailbox_maps = `texthash:${join(layout.configDir, 'vmailbox')}`;
    main.virtual_uid_maps = `static:${MAILBOX_UID}`;
    main.virtual_gid_maps = `static:${MAILBOX_GID}`;
    main.virtual_mailbox_limit = 0;
  }
  if (options.transports && Object.keys(options.transports).length > 0) {
    tables.transport = Object.entries(options.transports)
      .map(([domain, nexthop]) => `${domain} ${nexthop}\n`)
      .join('');
    main.transport_maps = `texthash:${join(layout.configDir, 'transport')}`;
  }
  Object.assign(main, options.mainCf ?? {});
  const mainCf = Object.entries(main)
    .map(([key, value]) => `${key} = ${value}\n`)
    .join('');
  return { mainCf, masterCf: renderMasterCf(port), tables };
}

// Debian's master.cf without chroot (the temp dir has no chroot jail) and without the pipe
// services; smtpd listens on 127.0.0.1:<port> only. postlog serves maillog_file.
function renderMasterCf(port: number): string {
  const services: [string, string, string, string, string, string, string, string?][] = [
    [`127.0.0.1:${port}`, 'inet', 'n', '-', 'n', '-', '-', 'smtpd'],
    ['pickup', 'unix', 'n', '-', 'n', '60', '1', 'pickup'],
    ['cleanup', 'unix', 'n', '-', 'n', '-', '0', 'cleanup'],
    ['qmgr', 'unix', 'n', '-', 'n', '300', '1', 'qmgr'],
    ['tlsmgr', 'unix', '-', '-', 'n', '1000?', '1', 'tlsmgr'],
    ['rewrite', 'unix', '-', '-', 'n', '-', '-', 'trivial-rewrite'],
    ['bounce', 'unix', '-', '-', 'n', '-', '0', 'bounce'],
    ['defer', 'unix', '-', '-', 'n', '-', '0', 'bounce'],
    ['trace', 'unix', '-', '-', 'n', '-', '0', 'bounce'],
    ['verify', 'unix', '-', '-', 'n', '-', '1', 'verify'],
    ['flush', 'unix', 'n', '-', 'n', '1000?', '0', 'flush'],
    ['proxymap', 'unix', '-', '-', 'n', '-', '-', 'proxymap'],
    ['proxywrite', 'unix', '-', '-', 'n', '-', '1', 'proxymap'],
    ['smtp', 'unix', '-', '-', 'n', '-', '-', 'smtp'],
    ['relay', 'unix', '-', '-', 'n', '-', '-', 'smtp'],
    ['showq', 'unix', 'n', '-', 'n', '-', '-', 'showq'],
    ['error', 'unix', '-', '-', 'n', '-', '-', 'error'],
    ['retry', 'unix', '-', '-', 'n', '-', '-', 'error'],
    ['discard', 'unix', '-', '-', 'n', '-', '-', 'discard'],
    ['local', 'unix', '-', 'n', 'n', '-', '-', 'local'],
    ['virtual', 'unix', '-', 'n', 'n', '-', '-', 'virtual'],
    ['lmtp', 'unix', '-', '-', 'n', '-', '-', 'lmtp'],
    ['anvil', 'unix', '-', '-', 'n', '-', '1', 'anvil'],
    ['scache', 'unix', '-', '-', 'n', '-', '1', 'scache'],
    ['postlog', 'unix-dgram', 'n', '-', 'n', '-', '1', 'postlogd'],
  ];
  return services.map((s) => `${s.join(' ')}\n`).join('');
}
