// Terminal flow control: coalescing and high/low watermarks, alone and inside PtyService.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EventName, EventTypes } from '../../../preload/contract.js';
import { FLOW_CONTROL, FlowController, OutputCoalescer } from '../../../main/services/flowControl.js';
import { PtyService, pxTargetsLine, type PtyProcess } from '../../../main/services/ptyService.js';

describe('FlowController', () => {
  it('pauses above the high watermark and resumes below the low one', () => {
    const target = { pause: vi.fn(), resume: vi.fn() };
    const f = new FlowController(target);
    f.sent(60_000);
    f.sent(40_000);
    expect(target.pause).not.toHaveBeenCalled(); // 100_000 is not above 100_000
    f.sent(1);
    expect(target.pause).toHaveBeenCalledTimes(1);
    expect(f.isPaused).toBe(true);
    f.sent(50_000); // still paused: no second pause
    expect(target.pause).toHaveBeenCalledTimes(1);
    f.ack(100_000);
    expect(f.unacknowledged).toBe(50_001);
    expect(target.resume).not.toHaveBeenCalled();
    f.ack(45_002);
    expect(f.unacknowledged).toBe(4_999);
    expect(target.resume).toHaveBeenCalledTimes(1);
    expect(f.isPaused).toBe(false);
  });

  it('uses the VS Code numbers', () => {
    expect(FLOW_CONTROL.highWatermarkChars).toBe(100_000);
    expect(FLOW_CONTROL.lowWatermarkChars).toBe(5_000);
    expect(FLOW_CONTROL.coalesceMs).toBeGreaterThanOrEqual(5);
    expect(FLOW_CONTROL.coalesceMs).toBeLessThanOrEqual(16);
  });

  it('ignores bad acks, never goes negative, and resets', () => {
    const target = { pause: vi.fn(), resume: vi.fn() };
    const f = new FlowController(target, 10, 5);
    f.ack(-3);
    f.ack(Number.NaN);
    f.ack(100);
    expect(f.unacknowledged).toBe(0);
    f.sent(20);
    expect(f.isPaused).toBe(true);
    f.reset();
    expect(f.isPaused).toBe(false);
    expect(f.unacknowledged).toBe(0);
    expect(target.resume).toHaveBeenCalledTimes(1);
    expect(() => new FlowController(target, 5, 5)).toThrow(RangeError);
  });
});

describe('OutputCoalescer', () => {
  afterEach(() => vi.useRealTimers());

  it('sends the chunks of one interval as one message', () => {
    vi.useFakeTimers();
    const out: string[] = [];
    const c = new OutputCoalescer((d) => out.push(d), 5);
    c.push('a');
    c.push('b');
    c.push('');
    vi.advanceTimersByTime(4);
    expect(out).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(out).toEqual(['ab']);
    c.push('c');
    c.flush();
    expect(out).toEqual(['ab', 'c']);
    c.push('d');
    c.dispose();
    vi.advanceTimersByTime(10);
    expect(out).toEqual(['ab', 'c']);
  });
});

class FakePty implements PtyProcess {
  pid = 4242;
  written: string[] = [];
  paused = 0;
  resumed = 0;
  killed = false;
  size: [number, number] = [0, 0];
  private dataCb: ((d: string) => void) | null = null;
  private exitCb: ((e: { exitCode: number }) => void) | null = null;
  onData(cb: (d: string) => void) {
    this.dataCb = cb;
    return { dispose: () => (this.dataCb = null) };
  }
  onExit(cb: (e: { exitCode: number }) => void) {
    this.exitCb = cb;
    return { dispose: () => (this.exitCb = null) };
  }
  write(d: string) {
    this.written.push(d);
  }
  resize(c: number, r: number) {
    this.size = [c, r];
  }
  pause() {
    this.paused++;
  }
  resume() {
    this.resumed++;
  }
  kill() {
    this.killed = true;
  }
  emit(d: string) {
    this.dataCb?.(d);
  }
  exit(code: number) {
    this.exitCb?.({ exitCode: code });
  }
}

function ptyService() {
  const events: { name: EventName; payload: unknown }[] = [];
  const sink = { emit: <K extends EventName>(name: K, payload: EventTypes[K]) => void events.push({ name, payload }) };
  const fake = new FakePty();
  const spawn = vi.fn(() => fake);
  const svc = new PtyService({ events: sink, spawner: async () => spawn, command: (file) => ({ file: 'node', args: ['console', '--file', file] }), targetsDelayMs: 10 });
  return { svc, fake, spawn, events, data: () => events.filter((e) => e.name === 'onPtyData').map((e) => (e.payload as { data: string }).data) };
}

describe('PtyService', () => {
  afterEach(() => vi.useRealTimers());

  it('runs the console with the client connection file', async () => {
    const { svc, spawn } = ptyService();
    await svc.connect('/tmp/p/client.json');
    expect(spawn).toHaveBeenCalledWith('node', ['console', '--file', '/tmp/p/client.json'], expect.objectContaining({ name: 'xterm-256color' }));
    svc.dispose();
  });

  it('coalesces output, pauses the pty above the high watermark and resumes when the renderer acknowledges', async () => {
    vi.useFakeTimers();
    const { svc, fake, data } = ptyService();
    await svc.connect('/f.json');
    const chunk = 'x'.repeat(10_000);
    for (let i = 0; i < 11; i++) fake.emit(chunk);
    expect(data()).toEqual([]);
    vi.advanceTimersByTime(FLOW_CONTROL.coalesceMs);
    expect(data()).toHaveLength(1);
    expect(data()[0]).toHaveLength(110_000);
    expect(fake.paused).toBe(1);
    expect(svc.flowState).toEqual({ unacknowledged: 110_000, paused: true });
    for (let acked = 0; acked < 105_000; acked += 5_000) svc.ack(5_000);
    expect(fake.resumed).toBe(0);
    svc.ack(5_000);
    expect(svc.flowState).toEqual({ unacknowledged: 0, paused: false });
    expect(fake.resumed).toBe(1);
    svc.dispose();
    expect(fake.killed).toBe(true);
  });

  it('replays recent output to a renderer that attaches, and resets flow control', async () => {
    vi.useFakeTimers();
    const { svc, fake } = ptyService();
    await svc.connect('/f.json');
    fake.emit('In [1]: ');
    expect(svc.attach()).toEqual({ backlog: 'In [1]: ', running: true });
    expect(svc.flowState.unacknowledged).toBe(0);
    svc.dispose();
  });

  it('passes input and size on, and restarts an exited console on Enter', async () => {
    vi.useFakeTimers();
    const { svc, fake, spawn, events } = ptyService();
    await svc.connect('/f.json');
    svc.write('1+1\r');
    svc.resize(120, 40);
    expect(fake.written).toEqual(['1+1\r']);
    expect(fake.size).toEqual([120, 40]);
    fake.exit(0);
    expect(events.some((e) => e.name === 'onPtyExit')).toBe(true);
    expect(svc.isRunning).toBe(false);
    svc.write('\r');
    await vi.waitFor(() => expect(spawn).toHaveBeenCalledTimes(2));
    svc.dispose();
  });

  it('sets the %px targets by typing into the console, never over a line the user is typing', async () => {
    vi.useFakeTimers();
    const { svc, fake } = ptyService();
    await svc.connect('/f.json');
    svc.setPxTargets([0, 2]);
    vi.advanceTimersByTime(20);
    expect(fake.written).toEqual([`${pxTargetsLine([0, 2])}\r`]);
    expect(pxTargetsLine([0, 2])).toBe('dview.targets = [0, 2]');
    expect(pxTargetsLine([])).toBe("dview.targets = 'all'");
    svc.write('dview.pu');
    svc.setPxTargets([1]);
    vi.advanceTimersByTime(50);
    expect(fake.written.at(-1)).toBe('dview.pu');
    svc.write("ll('a')\r");
    vi.advanceTimersByTime(50);
    expect(fake.written.at(-1)).toBe('dview.targets = [1]\r');
    svc.dispose();
  });
});
