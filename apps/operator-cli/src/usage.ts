// `dime-gateway help`.
export const USAGE = `dime-gateway: operator commands of the DIME gateway (local npm start state by default)

  dime-gateway audit export --out FILE       the audit trail with its signed checkpoints and a
                                             signed seal, as JSON Lines (FILE "-" = stdout)
  dime-gateway audit verify FILE --key PEM   offline: prints {"ok":bool,"entries":n,"firstBroken":seq|null,"reason":...};
                                             exit 0 only when ok (no database, no HSM)
  dime-gateway audit public-key              the audit public key (PEM) from the HSM
  dime-gateway audit checkpoint              sign a checkpoint of the current head now

Settings: the environment, then .local/gateway.env, then .local/appliance.env (DIME_HOME: the
directory holding .local/), the same DB_* and HSM_* keys as the gateway (appliance/gateway.env.example).
Bad input of any kind: exit 1 with one line on stderr.
`;
