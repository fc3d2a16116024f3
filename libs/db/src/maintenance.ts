// Whether PostgreSQL keeps the queue tables in shape by itself. Every message updates its rows
// several times, so without autovacuum the tables and their partial indexes fill with dead entries
// and their statistics never change. The gateway's own statements are written to stay fast
// regardless (hot-query.ts, queue.repository.ts), but the tables still grow without bound and the
// operators' queries slow down. The gateway reports it at start, once per finding.
import type { DataSource } from 'typeorm';

const QUEUE_TABLES = ['messages', 'recipients'] as const;

export async function autovacuumWarnings(ds: DataSource): Promise<string[]> {
  const rows: { autovacuum: string; track_counts: string; disabled: string[] | null }[] = await ds.query(
    `SELECT current_setting('autovacuum') AS autovacuum, current_setting('track_counts') AS track_counts,
            (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
              WHERE c.oid = ANY(ARRAY[${QUEUE_TABLES.map((t) => `to_regclass('${t}')`).join(', ')}])
                AND 'autovacuum_enabled=false' = ANY(c.reloptions)) AS disabled`,
  );
  const { autovacuum, track_counts: trackCounts, disabled } = rows[0]!;
  const warnings: string[] = [];
  if (autovacuum !== 'on' || trackCounts !== 'on') {
    warnings.push(
      `PostgreSQL autovacuum is off (autovacuum = ${autovacuum}, track_counts = ${trackCounts}): the queue tables will grow with dead rows; turn both on, or VACUUM ANALYZE ${QUEUE_TABLES.join(', ')} regularly`,
    );
  }
  for (const table of disabled ?? []) {
    warnings.push(`autovacuum is disabled on table ${table} (autovacuum_enabled = false): it will grow with dead rows; ALTER TABLE ${table} RESET (autovacuum_enabled)`);
  }
  return warnings;
}
