/** The node engine's namespace probe (see EngineLanguage.describeNames): JavaScript, evaluated in the engine's namespace, so free names resolve there. */
export const NODE_DESCRIBE = String.raw`(names) => {
  const own = (n) => Object.prototype.hasOwnProperty.call(globalThis, n);
  const get = (n) => (own(n) ? globalThis[n] : (0, eval)(n));
  const util = typeof require === 'function' ? require('node:util') : null;
  const isView = (v) => ArrayBuffer.isView(v) && !(v instanceof DataView);
  const typeOf = (v) => {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'Array';
    const t = typeof v;
    if (t === 'function') return /^class[\s{]/.test(Function.prototype.toString.call(v)) ? 'class' : 'function';
    if (t !== 'object') return t;
    const c = v.constructor;
    return (c && typeof c.name === 'string' && c.name) || Object.prototype.toString.call(v).slice(8, -1);
  };
  const sizeOf = (root) => {
    let budget = 100000;
    const seen = new Set();
    const walk = (v) => {
      if (--budget < 0) return 0;
      switch (typeof v) {
        case 'string': return 2 * v.length;
        case 'number': return 8;
        case 'boolean': return 4;
        case 'bigint': return 8 + Math.ceil(v.toString(16).length / 2);
        case 'undefined': case 'symbol': return 0;
        case 'function': return 2 * Function.prototype.toString.call(v).length;
      }
      if (v === null || seen.has(v)) return 0;
      seen.add(v);
      if (isView(v) || v instanceof DataView) return v.byteLength;
      if (v instanceof ArrayBuffer) return v.byteLength;
      if (v.data && isView(v.data) && Array.isArray(v.shape)) return v.data.byteLength;
      let n = 0;
      if (Array.isArray(v)) { n = 8 * v.length; for (const x of v) n += walk(x); return n; }
      if (v instanceof Map) { for (const [k, x] of v) n += 16 + walk(k) + walk(x); return n; }
      if (v instanceof Set) { for (const x of v) n += 8 + walk(x); return n; }
      for (const k of Object.keys(v)) n += 16 + 2 * k.length + walk(v[k]);
      return n;
    };
    const n = walk(root);
    return budget < 0 ? null : n;
  };
  // The value as JSON with sorted keys, when small and plain: values compare across languages.
  const jsonOf = (v) => {
    if (typeof v === 'function' || typeof v === 'symbol' || v === undefined) return null;
    if ((Array.isArray(v) || isView(v)) && v.length > 2000) return null;
    const plain = (x) => {
      if (isView(x)) return Array.from(x, (y) => (typeof y === 'bigint' ? Number(y) : y));
      if (x && typeof x === 'object' && !Array.isArray(x)) {
        const proto = Object.getPrototypeOf(x);
        if (proto !== Object.prototype && proto !== null) throw new Error('not plain');
        return Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]]));
      }
      return x;
    };
    try {
      const s = JSON.stringify(v, (k, x) => plain(x));
      return typeof s === 'string' && s.length <= 10000 ? s : null;
    } catch { return null; }
  };
  const out = [];
  for (const name of names) {
    let v;
    try { v = get(name); } catch { continue; }
    const type = typeOf(v);
    let shape = null;
    let length = null;
    try {
      if (v && typeof v === 'object' && Array.isArray(v.shape) && v.data && isView(v.data)) shape = v.shape.slice();
      else if (isView(v)) shape = [v.length];
      else if (Array.isArray(v)) {
        const rows = v.length;
        const c = rows > 0 && Array.isArray(v[0]) ? v[0].length : -1;
        shape = c >= 0 && rows <= 10000 && v.every((r) => Array.isArray(r) && r.length === c) ? [rows, c] : [rows];
      } else if (typeof v === 'string') length = v.length;
      else if (v instanceof Map || v instanceof Set) length = v.size;
      else if (v && typeof v === 'object') length = Object.keys(v).length;
    } catch {}
    let bytes = null;
    try { bytes = sizeOf(v); } catch {}
    let repr;
    try {
      repr = util ? util.inspect(v, { depth: 0, breakLength: Infinity, maxArrayLength: 8, maxStringLength: 60, compact: true }) : String(v);
    } catch (e) {
      repr = '<cannot show: ' + (e && e.name) + '>';
    }
    out.push({ name, type, shape, length, bytes, repr: repr.length > 100 ? repr.slice(0, 99) + '…' : repr, json: jsonOf(v) });
  }
  return out;
}`;
