"""ipyparallel side of `npm run bench -- --compare ipyparallel`.

Runs the same scenarios as bench/run.ts against ipyparallel (Debian's python3-ipyparallel, run
with the system /usr/bin/python3) and prints one JSON line per figure:
  {"name": ..., "kind": "ipyparallel", "n": 4, "unit": ..., "min": ..., "median": ..., "max": ..., "samples": k}
Every process it starts is stopped in a `finally`; its profile lives in a temporary directory.

With `--durations FILE` (a JSON list of ms, bench/lbScenarios.ts's skewed durations) it also runs the
load-balanced scenarios (lb_async_throughput, lb_map_skewed, direct_map_skewed); with `--only-lb`, only those.

With `--launchers local,mpi,slurm` (bench/run.ts --hosts --compare ipyparallel) it measures only
the start of 16 engines through ipyparallel's local, MPI and SLURM engine launchers, to the first
`apply` answered by all 16 ("start16_<launcher>"). mpiexec's root and oversubscription variables and the
SLURM cluster's SLURM_CONF come in the environment.
"""
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

from driver_common import client_scenarios, emitter, lower_bound, timed

QUICK = "--quick" in sys.argv
N = 4
LAUNCHERS = sys.argv[sys.argv.index("--launchers") + 1].split(",") if "--launchers" in sys.argv else []
DURATIONS = sys.argv[sys.argv.index("--durations") + 1] if "--durations" in sys.argv else None
ONLY_LB = "--only-lb" in sys.argv
#: Only the figures the Python client is compared on (bench/pyclient_driver.py): round trip, async, 128 MiB.
ONLY_PYCLIENT = "--only-pyclient" in sys.argv
LB_TASKS = 2000 if QUICK else 10000


def spin(ms):
    """Busy work for ms of wall time (on the clock, as bench/lbScenarios.ts's SPIN); returns ms."""
    import time
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass
    return ms


emit = emitter("ipyparallel", N)


def lb_scenarios(rc, durations):
    """lb_async_throughput (LoadBalancedView.apply_async, then wait) and the skewed maps, load-balanced and static."""
    lview = rc.load_balanced_view()
    dv = rc[:]

    def burst():
        ars = [lview.apply_async(lambda x: x, i) for i in range(LB_TASKS)]
        rc.wait(ars)
        for i in (0, LB_TASKS // 2, LB_TASKS - 1):
            assert ars[i].get() == i, f"lb_async_throughput: task {i} answered {ars[i].get()}"
    emit("lb_async_throughput", "tasks/s", [LB_TASKS / s for s in timed(burst, 1 if QUICK else 3)])

    bound = lower_bound(durations, N)

    def check(got):
        assert list(got) == durations, "skewed map: the results are not the durations in input order"
    for name, run in (("lb_map_skewed", lambda: check(lview.map_sync(spin, durations, chunksize=1))),
                      ("direct_map_skewed", lambda: check(dv.map_sync(spin, durations)))):
        samples = timed(run, 1 if QUICK else 3)
        emit(name, "s", samples, lower_bound=bound, ratio_to_bound=statistics.median(samples) / bound)


def launcher_starts(launchers):
    """Time from Cluster() to the first apply answered by 16 engines, for each engine launcher."""
    import ipyparallel as ipp

    profile_dir = tempfile.mkdtemp(prefix="me-bench-ipp-")
    os.environ["IPYTHONDIR"] = profile_dir
    # The SLURM launcher writes its job script and the job's output in the working directory.
    cwd = os.getcwd()
    os.chdir(profile_dir)
    try:
        for name in launchers:
            samples = []
            for _ in range(1 if QUICK else 3):
                t = time.perf_counter()
                c = ipp.Cluster(n=16, engine_launcher_class=name, log_level=40)
                try:
                    rc = c.start_and_connect_sync()
                    rc.wait_for_engines(16, timeout=600)
                    rc[:].apply_sync(lambda: None)
                    samples.append(time.perf_counter() - t)
                    rc.close()
                finally:
                    c.stop_cluster_sync()
            emit("start16_" + name, "s", samples, n=16)
    finally:
        os.chdir(cwd)
        shutil.rmtree(profile_dir, ignore_errors=True)


def main():
    import ipyparallel as ipp
    import numpy as np

    durations = json.load(open(DURATIONS)) if DURATIONS else None
    profile_dir = tempfile.mkdtemp(prefix="me-bench-ipp-")
    os.environ["IPYTHONDIR"] = profile_dir
    clusters = []

    def start(n):
        c = ipp.Cluster(n=n, log_level=40)
        clusters.append(c)
        rc = c.start_and_connect_sync()
        rc.wait_for_engines(n, timeout=600)
        rc[:].apply_sync(lambda: None)
        return c, rc

    def stop(c, rc):
        rc.close()
        c.stop_cluster_sync()
        clusters.remove(c)

    try:
        if ONLY_LB:
            c, rc = start(N)
            lb_scenarios(rc, durations)
            stop(c, rc)
            return
        if ONLY_PYCLIENT:
            c, rc = start(N)
            client_scenarios(rc, np, emit, QUICK, lambda: None, lambda x: x)
            stop(c, rc)
            return
        starts = []
        for _ in range(1 if QUICK else 3):
            t = time.perf_counter()
            c, rc = start(N)
            starts.append(time.perf_counter() - t)
            stop(c, rc)
        emit("cluster_start", "s", starts)

        c, rc = start(N)
        e0, dv = rc[0], rc[:]
        # Idle memory first, before any traffic (as bench/scenarios.ts and the anchors measure it).
        try:
            import psutil
            time.sleep(0.5 if QUICK else 2)
            procs = list(psutil.Process().children(recursive=True))
            rss = {p.pid: p.memory_info().rss / 2 ** 20 for p in procs}
            engine_pids = set(rc[:].apply_sync(os.getpid))
            emit("idle_engine_rss", "MB", [rss[p] for p in engine_pids if p in rss])
            emit("idle_engine_uss", "MB", [p.memory_full_info().uss / 2 ** 20 for p in procs if p.pid in engine_pids])
            emit("cluster_processes", "count", [len(procs)])
        except ImportError:
            pass
        client_scenarios(rc, np, emit, QUICK, lambda: None, lambda x: x, extra=True)

        big = np.arange(2 ** 20 if QUICK else 8 * 2 ** 20, dtype=np.float64)

        def sg():
            dv.scatter("x", big, block=True)
            dv.gather("x", block=True)
        emit("scatter_gather", "s", timed(sg, 2 if QUICK else 5))

        def comp():
            try:
                dv.execute("1/0", block=True)
            except ipp.error.CompositeError:
                return
            raise AssertionError("no CompositeError")
        emit("composite_error", "us", [s * 1e6 for s in timed(comp, 20 if QUICK else 100, 5)])

        items = list(range(10000))
        emit("map_10000", "s", timed(lambda: dv.map_sync(lambda x: x * x, items), 2 if QUICK else 5, 3))
        if durations:
            lb_scenarios(rc, durations)

        stop(c, rc)

        for n in ([4] if QUICK else [4, 16]):
            c, rc = start(n)
            e0, dv = rc[0], rc[:]
            emit("overhead_apply_rtt_1", "us", [s * 1e6 for s in timed(lambda: e0.apply_sync(lambda: None), 50 if QUICK else 200, 100 if QUICK else 300)], n=n)
            emit("overhead_execute_all", "us", [s * 1e6 for s in timed(lambda: dv.execute("a=1", block=True), 20 if QUICK else 100, 10)], n=n)
            stop(c, rc)
    finally:
        for c in list(clusters):
            try:
                c.stop_cluster_sync()
            except Exception as e:  # keep stopping the rest
                print(f"cleanup: {e}", file=sys.stderr)
        shutil.rmtree(profile_dir, ignore_errors=True)


if __name__ == "__main__":
    if LAUNCHERS:
        launcher_starts(LAUNCHERS)
    else:
        main()
