"""Dask side of `npm run bench -- --compare dask`: the load-balanced scenarios on dask.distributed.

Runs, on LocalCluster(n_workers=4, threads_per_worker=1, processes=True, dashboard_address=None)
(Debian's python3-distributed, run with the system /usr/bin/python3), the scenarios of
bench/lbScenarios.ts and prints one JSON line per figure, as ipp_driver.py does:
  lb_async_throughput  10,000 client.submit(fn, i, pure=False), then gather (checked); tasks/s
  lb_map_skewed        client.map(spin, durations, pure=False) + gather; makespan in s
`--durations FILE` is the JSON list of task durations in ms (bench/lbScenarios.ts draws it once).
The cluster is closed in a `finally`.
"""
import json
import statistics
import sys
import time

from driver_common import emitter, lower_bound, timed

QUICK = "--quick" in sys.argv
N = 4
TASKS = 2000 if QUICK else 10000


emit = emitter("dask", N)


def identity(x):
    return x


def spin(ms):
    """Busy work for ms of wall time (on the clock, as bench/lbScenarios.ts's SPIN); returns ms."""
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass
    return ms


def main():
    from distributed import Client, LocalCluster

    durations = json.load(open(sys.argv[sys.argv.index("--durations") + 1]))
    bound = lower_bound(durations, N)
    cluster = LocalCluster(n_workers=N, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    try:
        client.submit(identity, 0, pure=False).result()

        def burst():
            futures = [client.submit(identity, i, pure=False) for i in range(TASKS)]
            got = client.gather(futures)
            assert got == list(range(TASKS)), "lb_async_throughput: results out of order"
        emit("lb_async_throughput", "tasks/s", [TASKS / s for s in timed(burst, 1 if QUICK else 3)])

        def skewed():
            got = client.gather(client.map(spin, durations, pure=False))
            assert got == durations, "lb_map_skewed: the results are not the durations in input order"
        samples = timed(skewed, 1 if QUICK else 3)
        emit("lb_map_skewed", "s", samples, lower_bound=bound, ratio_to_bound=statistics.median(samples) / bound)
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
