/**
 * Which launcher plugin a name means: a built-in one (mpi, ssh, slurm, batch) or the module a
 * path names (its default export, a LauncherPlugin), so users add launchers without changing
 * Multiengine. 'local' is not a plugin: the controller's supervisor starts local engines itself.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { LauncherPlugin } from './launcher.js';

const BUILT_IN: Record<string, () => Promise<{ default: LauncherPlugin }>> = {
  mpi: () => import('./mpi.js'),
  ssh: () => import('./ssh.js'),
  slurm: () => import('./slurm.js'),
  batch: () => import('./batch.js'),
};

export const LAUNCHER_NAMES = ['local', ...Object.keys(BUILT_IN)];

/** A name that is a module path rather than a built-in launcher: it has a slash or a .js/.mjs/.cjs ending. */
export function isLauncherPath(name: string): boolean {
  return /[\\/]/.test(name) || /\.[cm]?js$/.test(name);
}

export async function loadLauncher(name: string): Promise<LauncherPlugin> {
  const builtIn = Object.prototype.hasOwnProperty.call(BUILT_IN, name) ? BUILT_IN[name] : undefined;
  if (builtIn) return (await builtIn()).default;
  if (!isLauncherPath(name)) {
    throw new Error(`unknown launcher ${JSON.stringify(name)}: use ${LAUNCHER_NAMES.join(', ')}, or the path of a launcher module (as ./my-launcher.js)`);
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path.resolve(name)).href)) as { default?: unknown };
  } catch (e) {
    throw new Error(`cannot load the launcher module ${path.resolve(name)}: ${(e as Error).message}`);
  }
  const plugin = mod.default as Partial<LauncherPlugin> | undefined;
  if (!plugin || typeof plugin.create !== 'function' || typeof plugin.name !== 'string') {
    throw new Error(`the launcher module ${path.resolve(name)} must export default { name, create(ctx, options) } (docs/launchers.md, "Writing a launcher")`);
  }
  return plugin as LauncherPlugin;
}
