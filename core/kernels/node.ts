/** The node engine (engines/node): JavaScript and TypeScript, the default language. */
import type { EngineLanguage } from './language.js';
import { NODE_DESCRIBE } from './nodeDescribe.js';

// Node engines evaluate function values, so the user's function is passed to this helper as its first argument.
const NODE_MAP = `(f, ...seqs) => {
  const n = seqs.length === 0 ? 0 : Math.min(...seqs.map((s) => s.length));
  const out = new Array(n);
  let thenable = false;
  for (let i = 0; i < n; i++) {
    const r = f(...seqs.map((s) => s[i]));
    if (r !== null && typeof r === 'object' && typeof r.then === 'function') thenable = true;
    out[i] = r;
  }
  return thenable ? Promise.all(out) : out;
}`;

export const nodeLanguage: EngineLanguage = {
  name: 'node',
  mapFunction: () => NODE_MAP,
  mapPassesFunction: true,
  readerSource: (names, single) => `() => (${single ? names[0] : `[${names.join(', ')}]`})`,
  writerSource: (paths, v) => `(...${v}) => { ${paths.map((p, i) => `${p} = ${v}[${i}];`).join(' ')} }`,
  describeNames: NODE_DESCRIBE,
};
