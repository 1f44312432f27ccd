/** The renderer's entry: mounts the app; a failure to start shows as a message, not a blank page. */
import { mount } from 'svelte';
import App from './App.svelte';
import { isResizeLoopNotice } from './lib/resize';
import { store } from './lib/state.svelte';
import './styles.css';

function showFatal(e: unknown): void {
  const target = document.getElementById('app') ?? document.body;
  const box = document.createElement('div');
  box.className = 'fatal';
  box.setAttribute('role', 'alert');
  const h = document.createElement('h1');
  h.textContent = 'Multiengine could not start its window';
  const p = document.createElement('pre');
  p.textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  box.append(h, p);
  target.replaceChildren(box);
}

window.addEventListener('error', (ev) => {
  if (!isResizeLoopNotice(ev)) store.error(ev.error ?? ev.message);
});
window.addEventListener('unhandledrejection', (ev) => store.error(ev.reason));

let app: unknown;
try {
  app = mount(App, { target: document.getElementById('app')! });
} catch (e) {
  console.error(e);
  showFatal(e);
}
export default app;
