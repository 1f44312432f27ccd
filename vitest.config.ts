// The app's unit tests. They are *.spec.ts so that node's test runner (scripts/test.mjs runs
// *.test.ts) does not pick them up. Two projects: main/preload code in node, and Svelte
// components in happy-dom with svelteTesting() (browser builds of svelte, auto-cleanup).
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import fs from 'node:fs';
import { defineConfig } from 'vitest/config';

// In a git worktree whose node_modules links to another checkout's, the testing library's setup
// file lives outside this folder: vite may read it there.
const modules = fs.realpathSync('node_modules');

export default defineConfig({
  test: {
    projects: [
      {
        test: { name: 'app', include: ['test/unit/app/*.spec.ts'], environment: 'node', testTimeout: 20_000 },
      },
      {
        plugins: [svelte(), svelteTesting()],
        server: { fs: { allow: ['.', modules] } },
        test: { name: 'ui', include: ['test/unit/app/ui/**/*.spec.ts'], environment: 'happy-dom', testTimeout: 20_000 },
      },
    ],
  },
});
