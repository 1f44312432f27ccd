"""IPython magics over a DirectView: %px, %%px, %autopx, %pxresult and %pxconfig.

`view.activate(suffix)` calls `register(view, suffix)`; `%load_ext multiengine` registers them
on all engines, blocking (the first `Client()` made in IPython activates them too: client.py).
Output is printed as the engines write it (`[stdout:0] …`), then each engine's value as `Out[0:3]: …`
through IPython.display, so a notebook shows it as a rich output. Ctrl-C while a blocking
%px waits interrupts the engines it runs on. IPython is imported only when a magic is
registered, so the client never needs it.
"""
import sys


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def register(view, suffix=''):
    """Makes `view` the one %px{suffix} (and %%px{suffix}, %autopx{suffix}, …) runs on, in the running IPython."""
    ip = _ipython()
    if ip is None:
        raise RuntimeError('the %px magics work only inside IPython or Jupyter (get_ipython() found no shell)')
    from .magics_ipython import make_magics

    ip.register_magics(make_magics(ip, view, suffix))


def load_ipython_extension(ip):
    """`%load_ext multiengine`: connects to the default profile's cluster and activates %px on
    all its engines, unless a view is already active; a missing cluster is reported, not raised."""
    if 'px' in ip.magics_manager.magics['line']:
        return
    from . import Client

    try:
        rc = Client()
    except Exception as e:  # no cluster yet: say so, leave the shell usable
        print('multiengine: %%px needs a running cluster: %s; then %%reload_ext multiengine' % (e,), file=sys.stderr)
        return
    # Client() in IPython may have activated a view of its own: this one blocks, as %load_ext promises.
    view = rc.direct_view('all')
    view.block = True
    register(view)


__all__ = ['register', 'load_ipython_extension']
