"""The IPython side of the %px magics: argument parsing with IPython's magic_arguments, the
names registered (with an optional suffix, as ipyparallel's `activate(suffix)`), and %autopx's
swap of the shell's run_cell. What they do with the view is magics.Runner."""
import re
import sys

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, no_var_expand

from .magics_runner import GROUPS, NO_LAST_RESULT, Runner, TargetsError, describe_targets, parse_targets, split_px_line


def _exec_args(f):
    for a in (
        magic_arguments.argument('-b', '--block', action='store_const', const=True, dest='block',
                                 help='wait for the engines and show their output (the default)'),
        magic_arguments.argument('-a', '--noblock', action='store_const', const=False, dest='block',
                                 help='return an AsyncResult at once; %%pxresult shows it later'),
        magic_arguments.argument('-t', '--targets', type=str,
                                 help='engines to run on: 0,2 or 1-3 or ::2 or all'),
        magic_arguments.argument('--stream', action='store_const', const=True, dest='stream',
                                 help='print output while the engines run (the default)'),
        magic_arguments.argument('--no-stream', action='store_const', const=False, dest='stream',
                                 help='print output when all engines are done'),
        magic_arguments.argument('--verbose', action='store_const', const=True, dest='set_verbose',
                                 help='name the engines at each run'),
        magic_arguments.argument('--no-verbose', action='store_const', const=False, dest='set_verbose'),
    ):
        f = a(f)
    return f


def _output_args(f):
    for a in (
        magic_arguments.argument('-r', action='store_const', dest='groupby', const='order',
                                 help='same as --group-outputs=order'),
        magic_arguments.argument('-e', action='store_const', dest='groupby', const='engine',
                                 help='same as --group-outputs=engine'),
        magic_arguments.argument('--group-outputs', dest='groupby', type=str, choices=list(GROUPS),
                                 help='show the output when all engines are done, by type (stdout, then stderr) or by engine'),
        magic_arguments.argument('-o', '--out', dest='save_name', type=str,
                                 help='keep the AsyncResult under this name in the user namespace'),
    ):
        f = a(f)
    return f


def _parse(method, line):
    try:
        return magic_arguments.parse_argstring(method, line)
    except UsageError:
        raise
    except SystemExit:  # argparse exits on --help; IPython has printed the usage
        raise UsageError('see the usage above')


class ParallelMagics(Magics):
    """%px{s}, %%px{s}, %autopx{s}, %pxresult{s} (and %result without a suffix), %pxconfig{s}."""

    # Names are chosen per instance (the suffix), so the class is not decorated with @magics_class.
    registered = True

    def __init__(self, shell, view, suffix=''):
        self.runner = Runner(view)
        self.suffix = suffix
        self._autopx = False
        px = 'px' + suffix
        self.magics = {
            'line': {px: self.px, 'auto' + px: self.autopx, 'pxresult' + suffix: self.result, 'pxconfig' + suffix: self.pxconfig},
            'cell': {px: self.cell_px},
        }
        if not suffix:
            self.magics['line']['result'] = self.result
        super().__init__(shell=shell)

    @property
    def view(self):
        return self.runner.view

    def _targets(self, text):
        try:
            return parse_targets(text, self.view.client.ids)
        except TargetsError as e:
            raise UsageError(str(e)) from None

    @magic_arguments.magic_arguments()
    @_exec_args
    def pxconfig(self, line):
        """Sets the defaults of %px: targets, blocking, streaming and verbosity."""
        args = _parse(self.pxconfig, line)
        if args.targets:
            self.view.targets = self._targets(args.targets)
        if args.block is not None:
            self.view.block = args.block
        if args.stream is not None:
            self.runner.stream = args.stream
        if args.set_verbose is not None:
            self.runner.verbose = args.set_verbose

    @magic_arguments.magic_arguments()
    @_output_args
    def result(self, line=''):
        """Shows the last %px result again (waiting for it when it ran with --noblock)."""
        args = _parse(self.result, line)
        if self.runner.last_result is None:
            raise UsageError(NO_LAST_RESULT)
        if args.save_name:
            self.shell.user_ns[args.save_name] = self.runner.last_result
            return
        self.runner.show_last(args.groupby or 'type')

    @no_var_expand
    def px(self, line=''):
        """Runs one line on the engines: %px a = 5."""
        try:
            opts, code = split_px_line(line)
        except TargetsError as e:
            raise UsageError(str(e)) from None
        if code.strip() == '':
            raise UsageError('usage: %%px%s [--targets 0,2] [--block|--noblock] CODE, e.g. %%px%s import numpy'
                             % (self.suffix, self.suffix))
        targets = self._targets(opts['targets']) if 'targets' in opts else None
        return self.runner.execute(code, targets=targets, block=opts.get('block'), groupby=opts.get('groupby'))

    @magic_arguments.magic_arguments()
    @_exec_args
    @_output_args
    def cell_px(self, line='', cell=None):
        """Runs the cell on the engines, with options for this cell only."""
        args = _parse(self.cell_px, line)
        targets = self._targets(args.targets) if args.targets else None
        if args.set_verbose is not None:
            self.runner.verbose = args.set_verbose
        stream_before = self.runner.stream
        if args.stream is not None:
            self.runner.stream = args.stream
        try:
            return self.runner.execute(cell or '', targets=targets, block=args.block, groupby=args.groupby,
                                       save_name=args.save_name, user_ns=self.shell.user_ns)
        finally:
            self.runner.stream = stream_before

    def autopx(self, line=''):
        """Toggles sending every cell to the engines; %autopx again turns it off."""
        if self._autopx:
            self._disable_autopx()
        else:
            self._enable_autopx()

    def _enable_autopx(self):
        self._original_run_cell = self.shell.run_cell
        self.shell.run_cell = self._pxrun_cell
        self._autopx = True
        print('%%autopx enabled (engines %s)' % describe_targets(self.view.targets))

    def _disable_autopx(self):
        if self._autopx:
            self.shell.run_cell = self._original_run_cell
            self._autopx = False
            print('%autopx disabled')

    def _pxrun_cell(self, raw_cell, *args, **kwargs):
        """run_cell in autopx mode: the cell goes to the engines, except `%autopx` itself, which
        turns the mode off. Each cell is numbered and kept in the history as a local one is."""
        if raw_cell.strip() == '':
            return self._original_run_cell(raw_cell, *args, **kwargs)
        result = self._original_run_cell('pass', store_history=False)
        if kwargs.get('store_history'):
            self.shell.history_manager.store_inputs(self.shell.execution_count, raw_cell)
            self.shell.execution_count += 1
        if re.match(r'^\s*%autopx' + re.escape(self.suffix) + r'\b', raw_cell):
            self._disable_autopx()
            return result
        try:
            self.runner.execute(raw_cell)
        except Exception:
            self.shell.showtraceback()
        sys.stdout.flush()
        return result


def make_magics(shell, view, suffix=''):
    return ParallelMagics(shell, view, suffix)
