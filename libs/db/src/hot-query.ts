// The queries on every message's path, straight on the DataSource's pg pool as named prepared
// statements: PostgreSQL parses and plans each once per connection instead of once per call, and
// no TypeORM query runner is made and released per query (together a third of the gateway's CPU
// under the benchmark). Same SQL, parameters and row types (node-postgres's) as ds.query.
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';

export async function hotQuery<T = Record<string, unknown>>(ds: DataSource, name: string, text: string, values: readonly unknown[]): Promise<T[]> {
  const pool = (ds.driver as unknown as { master?: Pool }).master;
  if (!pool) return ds.query(text, [...values]);
  return (await pool.query({ name, text, values: [...values] })).rows as T[];
}
