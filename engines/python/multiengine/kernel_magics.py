"""%px, %autopx and %result as IPython 0.10 had them after `mec.activate()`: shortcuts to
`mec.execute` on `mec.targets`, honouring `mec.block`, whose result IPython shows.

    In [26]: %px import numpy
    Executing command on Controller
    Out[26]:
    <Results List>
    [0] In [8]: import numpy
    ...

%result shows the last one again; %autopx sends every cell through `mec.execute` and prints
what it returns (a PendingResult when `mec.block` is False), as the seed's tutorial shows.
The newer magics (%%px, %pxconfig, --targets) are `view.activate()`'s (magics.py).
"""
from IPython.core.error import UsageError
from IPython.core.magic import no_var_expand

from .magics_ipython import ParallelMagics

NO_LAST_RESULT = '%result shows the last %px result, and no %px has run yet'


class _AutopxRunner:
    """What %autopx calls for each cell (ParallelMagics._pxrun_cell): mec.execute, its result printed."""

    def __init__(self, magics):
        self.magics = magics

    def execute(self, code, **_):
        self.magics.last = self.magics.mec.execute(code)
        print(repr(self.magics.last))


class MultiEngineMagics(ParallelMagics):
    def __init__(self, shell, mec):
        self.mec = mec
        self.last = None
        super().__init__(shell, None)
        self.runner = _AutopxRunner(self)
        self.magics = {'line': {'px': self.px, 'autopx': self.autopx, 'result': self.result}, 'cell': {}}

    @no_var_expand
    def px(self, line=''):
        """Runs one line on mec.targets: %px a = 5."""
        if line.strip() == '':
            raise UsageError('usage: %px CODE, e.g. %px import numpy')
        print('Executing command on Controller')
        self.last = self.mec.execute(line)
        return self.last

    def result(self, line=''):
        """The last %px (or %autopx cell) result on each engine, waited for if it is pending."""
        if self.last is None:
            raise UsageError(NO_LAST_RESULT)
        return self.last.r if hasattr(self.last, 'get_result') else self.last

    def _enable_autopx(self):
        self._original_run_cell = self.shell.run_cell
        self.shell.run_cell = self._pxrun_cell
        self._autopx = True
        print('Auto Parallel Enabled\nType %autopx to disable')

    def _disable_autopx(self):
        if self._autopx:
            self.shell.run_cell = self._original_run_cell
            self._autopx = False
            print('Auto Parallel Disabled')


def register(shell, mec):
    shell.register_magics(MultiEngineMagics(shell, mec))
