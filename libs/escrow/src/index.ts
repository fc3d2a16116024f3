// libs/escrow public API: the compliance journal (records encrypted under per-record keys wrapped
// to the HSM escrow key, blind indexes, archive stores), retention policies, legal holds,
// disposition with signed certificates, escrow recovery under M-of-N approval, escrow reports.
// Each part adds its exports below, one explicit name per line group (STYLE.md 6).
export {};
