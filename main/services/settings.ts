/** The user's choices (engine count and kind, attach or not), remembered in a JSON file. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AppSettings } from '../../preload/contract.js';
import { DEFAULT_LANGUAGE, isLanguageName } from '../../core/kernels/index.js';

export function defaultSettings(): AppSettings {
  return { engineCount: Math.max(1, os.availableParallelism()), engineKind: DEFAULT_LANGUAGE, attach: false, profile: 'app' };
}

function sanitize(raw: unknown, base: AppSettings): AppSettings {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Partial<Record<keyof AppSettings, unknown>>;
  return {
    engineCount: Number.isSafeInteger(r.engineCount) && (r.engineCount as number) >= 0 && (r.engineCount as number) <= 1024 ? (r.engineCount as number) : base.engineCount,
    engineKind: isLanguageName(r.engineKind) ? r.engineKind : base.engineKind,
    attach: typeof r.attach === 'boolean' ? r.attach : base.attach,
    profile: typeof r.profile === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(r.profile) ? r.profile : base.profile,
  };
}

export class SettingsStore {
  private value: AppSettings;

  /** `file` null: kept in memory only. */
  constructor(
    private readonly file: string | null,
    defaults: AppSettings = defaultSettings(),
  ) {
    let stored: unknown = {};
    if (file) {
      try {
        stored = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch {
        /* first run, or unreadable: defaults */
      }
    }
    this.value = sanitize(stored, defaults);
  }

  get(): AppSettings {
    return { ...this.value };
  }

  /** Overrides for this run only (command-line flags): not written back. */
  override(patch: Partial<AppSettings>): void {
    this.value = sanitize({ ...this.value, ...patch }, this.value);
  }

  update(patch: Partial<AppSettings>): AppSettings {
    this.value = sanitize({ ...this.value, ...patch }, this.value);
    if (this.file) {
      try {
        fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
        fs.writeFileSync(this.file, `${JSON.stringify(this.value, null, 2)}\n`, { mode: 0o600 });
      } catch {
        /* not fatal: the choice holds for this run */
      }
    }
    return this.get();
  }
}
