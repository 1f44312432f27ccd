/** The engine table's rows grouped by host (pure): a header per host when there are several. */
import type { EngineRow } from '../../preload/contract';

export type TableItem = { kind: 'host'; key: string; host: string; rows: EngineRow[]; counts: [string, number][] } | { kind: 'row'; key: string; row: EngineRow };

/**
 * The table's items for `rows` (in table order): with one host (or none), the rows as they
 * are; with several, each host's header (name, engines, counts by state) followed by its rows,
 * hosts in the order their first engine comes.
 */
export function groupByHost(rows: readonly EngineRow[]): TableItem[] {
  const byHost = new Map<string, EngineRow[]>();
  for (const r of rows) {
    const list = byHost.get(r.host);
    if (list) list.push(r);
    else byHost.set(r.host, [r]);
  }
  if (byHost.size <= 1) return rows.map((row) => ({ kind: 'row', key: String(row.id), row }));
  const items: TableItem[] = [];
  for (const [host, list] of byHost) {
    const counts = new Map<string, number>();
    for (const r of list) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
    items.push({ kind: 'host', key: `host:${host}`, host, rows: list, counts: [...counts] });
    for (const row of list) items.push({ kind: 'row', key: String(row.id), row });
  }
  return items;
}
