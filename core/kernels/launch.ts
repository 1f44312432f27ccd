/**
 * What starting an engine process on this machine needs, shared by the languages' descriptors
 * and the controller's local launcher: the error that says why a start failed, and where an
 * interpreter is found.
 */
import fs from 'node:fs';
import path from 'node:path';

/** A local engine could not be started; the message says why. */
export class LaunchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LaunchError';
  }
}

/** How the controller starts one engine of a language on its own machine. */
export interface LocalLaunch {
  /**
   * The interpreter to run, for languages that take one (Python): the request's choice, else the
   * controller's flag, else the language's environment variable or default. Absent: no choice.
   */
  interpreter?(requested: string | undefined, flag: string | undefined): string;
  /**
   * Command line of one engine, given the engine's own arguments (`--file <engine file> --id N`,
   * the same for every language); throws LaunchError naming what is missing (entry file, interpreter).
   */
  command(interpreter: string | undefined, engineArgs: readonly string[]): { command: string; args: string[] };
  /** Adds what this language's engines need to the environment they start with. */
  prepareEnv(env: NodeJS.ProcessEnv): void;
  /** Why spawning `command` failed with ENOENT or EACCES, in the user's words. */
  notFound(command: string, code: string): string;
}

/** Where `command` would be found (a path, or a name searched on PATH); null when it is not there. */
export function findExecutable(command: string): string | null {
  const exts = process.platform === 'win32' ? ['', ...(process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  const candidates = command.includes('/') || command.includes(path.sep)
    ? [command]
    : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, command));
  for (const c of candidates) {
    for (const ext of exts) {
      try {
        fs.accessSync(c + ext, fs.constants.X_OK);
        if (fs.statSync(c + ext).isFile()) return c + ext;
      } catch {
        /* next */
      }
    }
  }
  return null;
}
