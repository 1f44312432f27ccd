// Terminal flow control: coalescing and high/low watermarks, alone and inside PtyService.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FLOW_CONTROL, FlowController, OutputCoalescer } from '../../../main/services/flowControl.js';
import { ptyService } from './fakePty.js';

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
});
