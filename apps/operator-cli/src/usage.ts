// `dime-gateway help`.
export const USAGE = `dime-gateway: operator commands of the DIME gateway (local npm start state by default)

  dime-gateway audit export --out FILE       the audit trail with its signed checkpoints and a
                                             signed seal, as JSON Lines (FILE "-" = stdout)
  dime-gateway audit verify FILE --key PEM   offline: prints {"ok":bool,"entries":n,"firstBroken":seq|null,"reason":...};
                                             exit 0 only when ok (no database, no HSM)
  dime-gateway audit public-key              the audit public key (PEM) from the HSM
  dime-gateway audit checkpoint              sign a checkpoint of the current head now

  dime-gateway retention policy add --name N --days D [--scope all|domain|user|direction] [--value V]
                 [--action dispose|review] [--priority P] [--disabled true]
  dime-gateway retention policy list | lock ID|NAME | extend ID|NAME --days D
                                             a locked policy can only be extended (enforced in PostgreSQL too)
  dime-gateway retention hold place --case CASE --custodians ADDR[,ADDR] [--from DATE] [--to DATE] [--reason R]
  dime-gateway retention hold release ID | list [--all true]
  dime-gateway retention sweep [--enqueue true]
                                             crypto-shreds expired records not under hold, with signed
                                             certificates (--enqueue: as a job of the running gateway)
  dime-gateway retention orphans [--grace-minutes 60] [--dry-run true]
                                             deletes archive blobs no record names (failed journal
                                             attempts), older than the grace period; audited
  dime-gateway retention review list | approve --records ID[,ID]
  dime-gateway disposition list [--from DATE] [--to DATE] | show ID [--out FILE]
  dime-gateway disposition verify CERT --key AUDIT_PUBLIC_KEY.pem
                                             offline: prints {"ok":bool,"id","count","reason"}; exit 0 only when ok

  dime-gateway principal add NAME --role ROLE[,ROLE] [--public-key PEM_FILE]
                                             roles: auditor, escrow-approver, compliance-officer, admin;
                                             the key (P-256 or X25519) is what exports are encrypted to
  dime-gateway principal list
  dime-gateway escrow request --as AUDITOR --case CASE --justification TEXT
                 [--custodian ADDRESS] [--from DATE] [--to DATE] [--records ID,ID]
                                             opens a request (DATE: YYYY-MM-DD UTC or ISO 8601; --to exclusive)
  dime-gateway escrow approve|deny ID --as APPROVER
                                             ESCROW_REQUIRED_APPROVALS distinct approvers (default 2), never
                                             the requester; one denial closes the request
  dime-gateway escrow list [--limit N] | show ID | expire
  dime-gateway escrow export ID --as REQUESTER --out FILE
                                             only once approved: runs the export job, writes the archive
                                             encrypted for the requester's public key
  dime-gateway escrow decrypt FILE --key PRIVATE.pem --out DIR [--mbox MBOX]
                                             offline: EML files + manifest.json into DIR, hashes checked;
                                             --mbox also writes them as one mboxrd file (LF line endings)
  dime-gateway report escrow --from DATE --to DATE [--format json|csv] --out FILE
                                             signed with the audit key: FILE and FILE.sig
  dime-gateway report verify FILE --sig SIG --key AUDIT_PUBLIC_KEY.pem
                                             offline; exit 0 only when the signature verifies

  dime-gateway users add ADDRESS             DIME keys for a local user (wrapped under the HSM user-kek)
                                             and a user signet signed by the org POK in the HSM
  dime-gateway users list [--domain DOMAIN]  one JSON object per user (address, status, fingerprint)
  dime-gateway users suspend|resume ADDRESS  a suspended user neither sends nor receives DIME mail
  dime-gateway users signet ADDRESS          the user signet (PEM)
  dime-gateway dime record                   the _dx TXT record this organisation must publish
                                             (ORG_SIGNET_FILE, default .local/hsm/org.signet; LOCAL_DOMAINS)

Settings: the environment, then .local/gateway.env, then .local/appliance.env (DIME_HOME: the
directory holding .local/), the same DB_*, HSM_*, REDIS_*, ARCHIVE_* keys as the gateway
(appliance/gateway.env.example); ESCROW_EXPORT_DIR, ESCROW_REQUEST_TTL_HOURS for escrow.
Bad input of any kind: exit 1 with one line on stderr.
`;
