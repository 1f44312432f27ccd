// A PtyService over a fake pty that records what is written to it (no console process).
import { vi } from 'vitest';
import type { EventName, EventTypes } from '../../../preload/contract.js';
import { PtyService, type PtyProcess, type PtyServiceOptions, type PtySpawnOptions } from '../../../main/services/ptyService.js';

export class FakePty implements PtyProcess {
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

export function ptyService(opts: Partial<PtyServiceOptions> = {}) {
  const events: { name: EventName; payload: unknown }[] = [];
  const sink = { emit: <K extends EventName>(name: K, payload: EventTypes[K]) => void events.push({ name, payload }) };
  const fake = new FakePty();
  const spawn = vi.fn((_file: string, _args: string[], _opts: PtySpawnOptions) => fake);
  const svc = new PtyService({ events: sink, spawner: async () => spawn, command: (file) => ({ file: 'node', args: ['console', '--file', file] }), ...opts });
  return { svc, fake, spawn, events, data: () => events.filter((e) => e.name === 'onPtyData').map((e) => (e.payload as { data: string }).data) };
}

