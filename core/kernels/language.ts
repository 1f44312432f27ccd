/**
 * What Multiengine needs to know about one engine language, in one place: how the client
 * phrases a map or an attribute path in it, how the app describes names in its namespace, and
 * how a local engine of it is started. Adding a language means adding one descriptor to
 * ./index.ts; the controller accepts any language an engine registers with (the wire protocol,
 * docs/protocol.md, is the same for all), and the conformance fixtures under test/conformance
 * prove a new engine.
 */
import type { KernelKind } from '../protocol/messages.js';
import type { LocalLaunch } from './launch.js';

export interface EngineLanguage {
  /** The name engines register with (registration_request.kernel) and users pick (`engine: 'python'`). */
  readonly name: KernelKind;

  /**
   * The element-wise map an engine runs over its block of each sequence: the `fn` of the
   * apply_request that map sends to an engine of this language, given the user's function source.
   * When `mapPassesFunction`, the user's function travels as the first argument instead.
   */
  mapFunction(userSource: string): string;
  readonly mapPassesFunction: boolean;

  /** A function of no arguments giving the value of `names[0]` (`single`) or the list of their values (dotted paths allowed). */
  readerSource(names: readonly string[], single: boolean): string;
  /** A function of one argument per path that sets each path's attribute; `param` names the arguments. */
  writerSource(paths: readonly string[], param: string): string;

  /** A function of a list of names, applied on an engine, that describes each name present (the app's namespace browser). */
  readonly describeNames: string;

  /** How the controller starts an engine of this language on its own machine. */
  readonly local: LocalLaunch;
  /**
   * Command line of one engine on another host (launchers): `program` is the interpreter there
   * (default 'node' or 'python3'), `root` the Multiengine package folder there (default this one's:
   * right for hosts that share this filesystem).
   */
  remoteCommand(program: string | undefined, root: string | undefined, engineArgs: readonly string[]): string[];
}
