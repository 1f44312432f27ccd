// Who may import whom (architecture.md): the renderer sees only the contract; the preload only
// electron and the contract; main/ imports electron only in main/electron/ (web mode must not).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');

function files(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...files(rel, exts));
    else if (exts.some((x) => e.name.endsWith(x))) out.push(rel);
  }
  return out;
}

function imports(file: string): string[] {
  const src = fs.readFileSync(path.join(ROOT, file), 'utf8');
  return [...src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

describe('layering', () => {
  it('the renderer imports no node:*, no electron and no core runtime', () => {
    for (const f of files('renderer', ['.ts', '.svelte'])) {
      for (const i of imports(f)) {
        expect(i.startsWith('node:') || i === 'electron' || i.includes('/core/') || i.includes('/main/'), `${f} imports ${i}`).toBe(false);
        if (i.includes('preload/')) expect(i, `${f} imports ${i}`).toMatch(/preload\/contract$/);
      }
    }
  });

  it('the preload imports only electron and the contract', () => {
    for (const f of files('preload', ['.ts'])) {
      for (const i of imports(f)) expect(['electron', './contract.js', './expose.js'], `${f} imports ${i}`).toContain(i);
    }
    expect(imports('preload/contract.ts')).toEqual([]);
  });

  it('main/ imports electron only under main/electron/', () => {
    for (const f of files('main', ['.ts'])) {
      if (f.startsWith(path.join('main', 'electron'))) continue;
      expect(imports(f), f).not.toContain('electron');
    }
  });
});
