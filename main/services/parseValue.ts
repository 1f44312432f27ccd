/** Parses the value of the push and scatter inspectors: JSON, or a JavaScript expression. */
import vm from 'node:vm';
import type { ValueFormat } from '../../preload/contract.js';
import { UserError } from './userError.js';

export function parseValue(source: string, format: ValueFormat): unknown {
  if (format === 'json') {
    try {
      return JSON.parse(source);
    } catch (e) {
      throw new UserError(`the value is not valid JSON: ${(e as Error).message}`, 'value');
    }
  }
  try {
    // A fresh context with nothing of ours in it; a runaway expression is stopped after 2 s.
    return vm.runInNewContext(`(${source}\n)`, Object.create(null), { timeout: 2000, filename: 'value' });
  } catch (e) {
    throw new UserError(`the expression failed: ${(e as Error)?.name ?? 'Error'}: ${(e as Error)?.message ?? String(e)}`, 'value');
  }
}
