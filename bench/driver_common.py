"""What the Python drivers of `npm run bench` (ipp_driver.py, dask_driver.py) share: their JSON
figure lines, the timing loop and the skewed map's lower bound. (The busy-work function `spin`
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
