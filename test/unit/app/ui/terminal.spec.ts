// The terminal panel attaching to the console: output that comes before the attach's answer is
// already in the backlog that answer brings, so it is written once (the banner showed twice).
import { render } from '@testing-library/svelte';
import { afterEach, describe, expect, it } from 'vitest';
import Terminal from '../../../../renderer/components/Terminal.svelte';
import { setApi } from '../../../../renderer/lib/api';
import { fakeApi } from './fakeApi';

describe('Terminal', () => {
  afterEach(() => setApi(null as never));

  it('writes output that came before the attach answered once, from the backlog; what comes after, live', async () => {
    const f = fakeApi();
    let push: (p: { data: string }) => void = () => {};
    f.mocks.onPtyData.mockImplementation((cb: (p: { data: string }) => void) => {
      push = cb;
      return () => {};
    });
    let answer!: (v: { backlog: string; running: boolean }) => void;
    f.mocks.ptyAttach.mockImplementation(() => new Promise((r) => (answer = r)));
    setApi(f.api);
    render(Terminal, { props: {} });
    push({ data: 'BANNER\r\n' }); // live, before the answer: also in the backlog
    answer({ backlog: 'BANNER\r\n', running: true });
    await new Promise((r) => setTimeout(r, 0));
    push({ data: 'AFTER\r\n' });
    // xterm writes asynchronously: its rows show the text a moment later.
    await new Promise((r) => setTimeout(r, 50));
    const text = document.querySelector('.xterm-rows')?.textContent ?? '';
    expect(text.match(/BANNER/g)?.length).toBe(1);
    expect(text).toContain('AFTER');
  });
});
