// Builds the renderer (Svelte 5) into dist/renderer, served by app:// in the desktop app and
// over HTTP in web mode. Relative asset paths work for both.
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./renderer', import.meta.url)),
  base: './',
  plugins: [svelte()],
  build: {
    outDir: fileURLToPath(new URL('./dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'chrome120',
    sourcemap: true,
    chunkSizeWarningLimit: 2000,
    // The app, and the dashboard views on a page of their own.
    rolldownOptions: { input: { index: fileURLToPath(new URL('./renderer/index.html', import.meta.url)), dashboard: fileURLToPath(new URL('./renderer/dashboard.html', import.meta.url)) } },
  },
  server: { host: '127.0.0.1' },
});
