// A node:test reporter that names every skipped (or todo) test with its file, as TAP comment
// lines `# skipped: <name> (<file>)`, for .ci/totals.mjs. It runs next to the usual reporter.
import path from 'node:path';

export default async function* skippedReporter(source) {
  // The names of the enclosing suites, by nesting level, per file.
  const open = new Map();
  for await (const event of source) {
    const d = event.data;
    if (event.type === 'test:start') {
      const names = open.get(d.file) ?? [];
      names.length = d.nesting;
      names.push(d.name);
      open.set(d.file, names);
    } else if ((event.type === 'test:pass' || event.type === 'test:fail') && (d.skip !== undefined || d.todo !== undefined)) {
      const where = (open.get(d.file) ?? []).slice(0, d.nesting);
      const name = [...where, d.name].join(' > ');
      const why = d.skip !== undefined ? (typeof d.skip === 'string' ? ` — ${d.skip}` : '') : ` — todo${typeof d.todo === 'string' ? `: ${d.todo}` : ''}`;
      yield `# skipped: ${name} (${d.file ? path.relative(process.cwd(), d.file) : 'unknown file'})${why}\n`;
    }
  }
}
