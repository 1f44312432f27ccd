/**
 * A task_report buffer in the columns form (protocol section 13) made from positional entries
 * (DirectTaskEntry's fields, trailing ones optional), as an engine would send them: a header and
 * a reply metadata object per entry, the sizes, and an extras row wherever the code changes or a
 * label, output or an outcome other than ok is there (a code repeated from the row before as 0).
 * For tests that write reports by hand; the engines' own reporters are tested on their own.
 */
export function columnsReport(entries: readonly (readonly unknown[])[]): Uint8Array {
  const heads: string[] = [];
  const metas: string[] = [];
  const sizes: unknown[] = [];
  const rows: unknown[][] = [];
  let code: unknown = null;
  entries.forEach((t, i) => {
    heads.push(JSON.stringify({ msg_id: t[0], msg_type: t[1], session: t[2], ...(t[3] === null ? {} : { date: t[3] }) }));
    metas.push(JSON.stringify({ engine_id: 0, received: t[4], started: t[5], completed: t[6] }));
    sizes.push(t[8]);
    const rest = t.slice(10, 15).map((v) => v ?? null);
    const status = t[7] === 'ok' ? null : t[7];
    const same = i > 0 && t[9] === code;
    code = t[9];
    if (same && status === null && rest.every((v) => v === null)) return;
    const row = [i, same && code !== null ? 0 : t[9], rest[0] ?? null, status, ...rest.slice(1)];
    while (row.length > 2 && row[row.length - 1] === null) row.pop();
    rows.push(row);
  });
  return new TextEncoder().encode([heads.join('\x1e'), metas.join('\x1e'), JSON.stringify(sizes), JSON.stringify(rows)].join('\x1d'));
}
