/**
 * Job-script templates of the batch launchers: the placeholders a template may use, filling
 * them for one engine set, and the template option (the script itself, or a file holding it).
 */
import fs from 'node:fs';
import type { EngineSetContext } from './launcher.js';
import { showCommand } from './launcherKit.js';

/** The values a job-script template may use, as `{name}` (docs/launchers.md, "Batch systems"). */
export interface TemplateValues {
  n: number;
  /** One engine's command line, shell-quoted: run it once per rank (srun, mpiexec) or set a rank variable. */
  engine_command: string;
  job_name: string;
  work_dir: string;
  output: string;
  set: string;
  first_id: number;
}

export const PLACEHOLDERS: readonly (keyof TemplateValues)[] = ['n', 'engine_command', 'job_name', 'work_dir', 'output', 'set', 'first_id'];

/**
 * Fills `{name}` placeholders; `{{` and `}}` are literal braces, and `${NAME}` is left to the shell.
 * An unknown `{name}` is an error naming it, so a typo does not reach the batch system.
 */
export function renderTemplate(template: string, values: TemplateValues): string {
  return template.replace(/\{\{|\}\}|(\$?)\{([a-z_]+)\}/g, (whole, dollar: string | undefined, name: string | undefined) => {
    if (whole === '{{') return '{';
    if (whole === '}}') return '}';
    if (dollar) return whole;
    if (!(PLACEHOLDERS as readonly string[]).includes(name!)) {
      throw new Error(`the job template has an unknown placeholder {${name}}; the placeholders are ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')} (write {{ and }} for literal braces)`);
    }
    return String(values[name as keyof TemplateValues]);
  });
}

/** The template option: the job script itself (text of several lines) or the path of a file holding it. */
export function templateOption(options: Readonly<Record<string, unknown>>, required: boolean): string | undefined {
  const v = options.template;
  if (v === undefined || v === null) {
    if (required) throw new Error('option template is required: the job script (text with {n}, {engine_command}, ...) or the path of a file holding it');
    return undefined;
  }
  if (typeof v !== 'string' || v.trim() === '') throw new Error(`option template must be a job script or the path of one, got ${JSON.stringify(v)}`);
  if (v.includes('\n')) return v;
  try {
    return fs.readFileSync(v, 'utf8');
  } catch (e) {
    throw new Error(`option template is one line, so it names a file, and ${JSON.stringify(v)} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give the job script itself as several lines, or an existing file`);
  }
}

/** The values of the set's template, with the engine command for this set (engine program and package root as given). */
export function templateValues(ctx: EngineSetContext, output: string, engine: { program?: string; root?: string }): TemplateValues {
  return {
    n: ctx.n,
    engine_command: showCommand(ctx.engineCommand(engine)),
    job_name: `multiengine-${ctx.setId}`,
    work_dir: ctx.workDir,
    output,
    set: ctx.setId,
    first_id: ctx.firstId,
  };
}
