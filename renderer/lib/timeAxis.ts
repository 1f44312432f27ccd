/** Time axis ticks for the task stream: a round step for a span, and a clock label at that precision. */

const STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000];

/** The smallest round step (ms) of at least `ms`. */
export function niceStep(ms: number): number {
  for (const s of STEPS) if (s >= ms) return s;
  return Math.ceil(ms / 86_400_000) * 86_400_000;
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** The local clock time of `t`, with milliseconds when the step is under a second. */
export function timeLabel(t: number, step: number): string {
  const d = new Date(t);
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return step < 1000 ? `${hms}.${pad(d.getMilliseconds(), 3)}` : step < 60_000 ? hms : hms.slice(0, 5);
}
