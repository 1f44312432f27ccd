"""What %px does with a view, apart from IPython: which engines `--targets` names, running
code with its output streamed or grouped, and Ctrl-C interrupting the engines it runs on."""
import re
import sys

from .magics_output import OutputPrinter

NO_LAST_RESULT = '%pxresult shows the last %px result, and no %px has run yet'
GROUPS = ('type', 'engine', 'order')


class TargetsError(ValueError):
    """--targets text that names no engines, in the user's words."""


def parse_targets(text, ids):
    """`all`, `3`, `0,2`, `1-3`, `0,2-3`, a slice like `::2` or `1:3` over the client's ids,
    or a Python list/tuple `[0, 2]`: the engine ids in the order given."""
    t = text.strip()
    if t in ('all', '*', "'all'", '"all"'):
        return 'all'
    if t == '':
        raise TargetsError('--targets needs engine ids, e.g. --targets 0,2 or --targets 1-3 or --targets ::2')
    if ':' in t:
        parts = t.split(':')
        if len(parts) > 3 or not all(re.fullmatch(r'\s*-?\d*\s*', p) for p in parts):
            raise TargetsError('--targets: %r is not a slice like ::2 or 1:3' % t)
        nums = [int(p) if p.strip() else None for p in parts]
        if len(nums) == 3 and nums[2] == 0:
            raise TargetsError('--targets: the slice %r has step 0' % t)
        chosen = list(ids)[slice(*nums)]
        if not chosen:
            raise TargetsError('--targets: the slice %r selects none of the engines %s' % (t, list(ids)))
        return chosen
    body = t[1:-1] if t[:1] in '[(' and t[-1:] in '])' else t
    out = []
    for part in body.split(','):
        if part.strip() == '' and body.strip().endswith(','):
            continue
        m = re.fullmatch(r'\s*(\d+)\s*(?:-\s*(\d+)\s*)?', part)
        if not m:
            raise TargetsError('--targets: %r is not an engine id or a range like 1-3' % part.strip())
        first = int(m.group(1))
        last = first if m.group(2) is None else int(m.group(2))
        if last < first:
            raise TargetsError('--targets: the range %d-%d runs backwards' % (first, last))
        for i in range(first, last + 1):
            if i not in out:
                out.append(i)
    if len(out) == 1 and not re.search(r'[,\[(-]', t):
        return out[0]
    return out


_LEADING_OPTION = re.compile(r'--(targets|group-outputs)(?:=|\s+)(\S+)(?:\s+|$)|--(no)?block(?:\s+|$)')


def split_px_line(line):
    """`%px [--targets X] [--block|--noblock] [--group-outputs G] CODE`, as the console's %px
    reads it: the options at the start, then the code (anything else, even `--x`, is code)."""
    opts = {}
    rest = line.lstrip()
    while True:
        m = _LEADING_OPTION.match(rest)
        if not m:
            break
        if m.group(1) == 'targets':
            opts['targets'] = m.group(2)
        elif m.group(1) == 'group-outputs':
            if m.group(2) not in GROUPS:
                raise TargetsError('--group-outputs: %r is not one of %s' % (m.group(2), ', '.join(GROUPS)))
            opts['groupby'] = m.group(2)
        else:
            opts['block'] = m.group(3) is None
        rest = rest[m.end():]
    return opts, rest


def describe_targets(targets):
    if targets is None or targets == 'all':
        return 'all'
    if isinstance(targets, int):
        return str(targets)
    targets = list(targets)
    if len(targets) > 10:
        return str(targets[:4])[:-1] + ', ..., ' + str(targets[-4:])[1:]
    return str(targets)


class Runner:
    """What %px does with a view: run code, stream or group its output, interrupt on Ctrl-C.

    Kept apart from IPython's Magics class so that its behaviour reads in one place."""

    def __init__(self, view):
        self.view = view
        self.last_result = None
        self.stream = True
        self.verbose = False

    def execute(self, code, targets=None, block=None, groupby=None, save_name=None, user_ns=None):
        view = self.view
        block = view.block if block is None else block
        targets = view.targets if targets is None else targets
        if self.verbose:
            print('%s execution on engine(s): %s' % ('Parallel' if block else 'Async parallel', describe_targets(targets)))
        run_view = view if targets is view.targets else view.client.direct_view(targets)
        ar = run_view.execute(code, block=False)
        self.last_result = ar
        if save_name and user_ns is not None:
            user_ns[save_name] = ar
        if not block:
            return ar
        stream = self.stream and groupby is None
        printer = OutputPrinter(ar)
        try:
            while not ar.ready():
                ar.wait(0.05)
                if stream:
                    printer.flush()
        except KeyboardInterrupt:
            print('Received Keyboard Interrupt. Sending SIGINT to engines %s...' % describe_targets(targets), file=sys.stderr)
            view.client.interrupt(targets=targets)
            ar.wait()
        if stream:
            printer.flush()
            printer.show_rich()
        else:
            printer.show_grouped(groupby or 'type')
        return None

    def show_last(self, groupby):
        ar = self.last_result
        ar.wait()
        OutputPrinter(ar).show_grouped(groupby)
