// The `dime` command line's help text: the contract other tools depend on.
export const USAGE = `dime: DIME keys, signets, D/MIME messages and DNS management records (magma-libdime dialect)

  dime keys generate --org|--user                    > FILE.keys    (PEM)
  dime keys public FILE.keys                         JSON with the public keys
  dime signet verify FILE [--org ORG_SIGNET_FILE | --pok BASE64]
        JSON {type, state, id, fingerprints{crypto,full,id,ssr}}; exit 0 if valid in the state it claims
  dime signet create-org --keys ORG_KEYS [--domain D] [--name N] [--website URL] [--field NAME=VALUE]...
  dime signet request --keys USER_KEYS                > FILE.ssr      (signet signing request)
  dime signet sign SSR_FILE --org-keys ORG_KEYS [--address A] [--name N]   > FILE.signet
  dime signet split FILE --view crypto|full            > FILE.signet
  dime message seal --eml FILE --author-keys F --author-signet F --origin-signet F
                    --destination-signet F --recipient-signet F        > OUT.dmsg  (binary)
  dime message sign-origin IN.dmsg --keys ORG_KEYS [--author-signet F]  > OUT.dmsg
  dime message open IN.dmsg --as author|origin|destination|recipient --keys F
                    [--author-signet F] [--origin-signet F]
        JSON {origin, destination, commonHeaders, otherHeaders, display, attachments, eml, signatures}
        exit 0 only if every signature visible to the actor is valid
  dime record parse "TXT RECORD TEXT"                JSON
  dime record create --pok-keys F [--tls-cert PEM] [--dx HOST]... [--policy P] [--subdomain S]
                     [--expiry DAYS] [--syndicate S]...
  dime record verify-tls "TXT RECORD TEXT" --cert PEM   exit 0 if a tls= signature matches the certificate

Input files may be PEM-armored or binary; message files binary or base64. Use "-" for stdin.
Bad input exits 1 with a one-line reason on stderr.
`;
