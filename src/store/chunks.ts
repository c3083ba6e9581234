/**
 * Splits rows into chunks small enough for one statement: SQLite allows at most 32,766 bound
 * parameters per statement and PostgreSQL 65,535.
 */
export function chunksFor<T>(rows: readonly T[], columnsPerRow: number, maxParameters = 30_000): T[][] {
  const size = Math.max(1, Math.floor(maxParameters / Math.max(1, columnsPerRow)));
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}
