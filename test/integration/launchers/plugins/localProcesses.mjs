// A launcher plugin loaded by its module path (docs/launchers.md, "Writing a launcher"): it starts
// each engine as a local process through the context's spawner. Options make it misbehave on
// purpose: `failWith` runs a "tool" that prints that text and exits 3 (a refused start),
// `neverRegister` starts processes that are not engines (the registration timeout).
import { EventEmitter } from 'node:events';

class LocalProcesses {
  constructor(ctx, options) {
    for (const k of Object.keys(options)) if (!['failWith', 'neverRegister'].includes(k)) throw new Error(`unknown option ${k}`);
    this.ctx = ctx;
    this.options = options;
    this.procs = new Map();
    this.text = '';
    this.events = new EventEmitter();
    this.status = { state: 'starting' };
    this.onDidChangeStatus = (fn) => {
      this.events.on('status', fn);
      return { dispose: () => this.events.off('status', fn) };
    };
  }

  setStatus(s) {
    if (this.status.state === 'ended') return;
    this.status = s;
    this.events.emit('status', s);
  }

  spawn(id) {
    const { ctx, options } = this;
    const argv = options.failWith
      ? ['sh', '-c', `echo "${options.failWith}" >&2; exit 3`]
      : options.neverRegister
        ? ['sleep', '60']
        : ctx.engineCommand({ id });
    const proc = ctx.spawner.start({ command: argv[0], args: argv.slice(1), env: ctx.env, stdin: 'ignore' });
    this.procs.set(id, proc);
    for (const s of [proc.stdout, proc.stderr]) {
      s.setEncoding('utf8');
      s.on('data', (t) => (this.text += t));
    }
    proc.onDidExit((exit) => {
      this.text += `[engine ${id}] ${exit.reason}\n`;
      if ([...this.procs.values()].every((p) => p.state === 'exited')) this.setStatus({ state: 'ended', reason: `every process ended (the last ${exit.reason})` });
    });
  }

  async start() {
    for (let k = 0; k < this.ctx.n; k++) this.spawn(this.ctx.firstId + k);
    this.setStatus({ state: 'running' });
  }

  async restartEngine(id) {
    this.spawn(id);
  }

  async stop() {
    await Promise.all([...this.procs.values()].map((p) => p.stop(2000)));
  }

  async signal(sig) {
    for (const p of this.procs.values()) p.signal(sig);
  }

  output() {
    return this.text;
  }
}

export default { name: 'local-processes', create: (ctx, options) => new LocalProcesses(ctx, options) };
