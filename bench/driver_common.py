"""What the Python drivers of `npm run bench` (ipp_driver.py, dask_driver.py, pyclient_driver.py)
share: their JSON figure lines, the timing loop, the skewed map's lower bound, and the scenarios
ipyparallel and Multiengine's Python client both run (the same code: the client has ipyparallel's API). (The busy-work function `spin`
stays in each driver: it is shipped to the engines or workers by value, which a function of an
imported module would not be.)"""
import json
import statistics
import time


def emitter(kind, default_n):
    """emit(name, unit, samples, n=default_n, **extra): one figure line, as bench/stats.ts's `figure` makes."""
    def emit(name, unit, samples, n=default_n, **extra):
        samples = list(samples)
        line = {"name": name, "kind": kind, "n": n, "unit": unit,
                "min": min(samples), "median": statistics.median(samples), "max": max(samples),
                "samples": len(samples)}
        line.update(extra)
        print(json.dumps(line), flush=True)
    return emit


def timed(fn, reps, warm=0):
    """Seconds per call of fn, `reps` times after `warm` untimed calls."""
    for _ in range(warm):
        fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def lower_bound(durations, engines):
    """The best makespan any schedule of these durations (ms) on `engines` can have, in s."""
    return max(sum(durations) / engines, max(durations)) / 1000


def client_scenarios(rc, np, emit, QUICK, noop, ident, extra=False):
    """The figures ipyparallel and the Python client are compared on, through the API they share:
    apply_rtt_1, async_throughput, push/pull_128MiB (and, with `extra`, apply_rtt_all and execute_all).
    `noop` and `ident` (lambda: None, lambda x: x) come from the driver's own module: ipyparallel
    sends a function of an imported module by reference, which its engines cannot import."""
    e0, dv = rc[0], rc[:]
    reps = 100 if QUICK else 1000
    # The same warm-up as bench/scenarios.ts (steady state, after node's JIT has compiled the hot paths).
    warm = 200 if QUICK else 1500
    emit("apply_rtt_1", "us", [s * 1e6 for s in timed(lambda: e0.apply_sync(noop), reps, warm)])
    if extra:
        emit("apply_rtt_all", "us", [s * 1e6 for s in timed(lambda: dv.apply_sync(noop), reps // 2, warm // 2)])
        emit("execute_all", "us", [s * 1e6 for s in timed(lambda: dv.execute("a=1", block=True), reps // 2, warm // 2)])

    count = 500 if QUICK else 2000

    def burst():
        ars = [e0.apply_async(ident, i) for i in range(count)]
        rc.wait(ars)
        assert [a.get() for a in ars[:3]] == [0, 1, 2]
    emit("async_throughput", "tasks/s", [count / s for s in timed(burst, 1 if QUICK else 3)])

    size = (16 if QUICK else 128) * 2 ** 20
    arr = np.random.random(size // 8)
    e0.push({"a": arr}, block=True)
    assert np.array_equal(e0.pull("a", block=True), arr)
    pushes = timed(lambda: e0.push({"a": arr}, block=True), 2 if QUICK else 5)
    pulls = timed(lambda: e0.pull("a", block=True), 2 if QUICK else 5)
    emit("push_128MiB", "MB/s", [size / 1e6 / s for s in pushes], bytes=size)
    emit("pull_128MiB", "MB/s", [size / 1e6 / s for s in pulls], bytes=size)
