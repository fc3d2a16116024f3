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
  dime-gateway retention review list | approve --records ID[,ID]
  dime-gateway disposition list [--from DATE] [--to DATE] | show ID [--out FILE]
  dime-gateway disposition verify CERT --key AUDIT_PUBLIC_KEY.pem
                                             offline: prints {"ok":bool,"id","count","reason"}; exit 0 only when ok

Settings: the environment, then .local/gateway.env, then .local/appliance.env (DIME_HOME: the
directory holding .local/), the same DB_* and HSM_* keys as the gateway (appliance/gateway.env.example).
Bad input of any kind: exit 1 with one line on stderr.
`;
