// Lint rules: typescript-eslint's recommended set, plus the layering rule that keeps
// core/ and engines/ free of Electron.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'renderer/dist/**', '**/*.py', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', Buffer: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['core/**/*.ts', 'engines/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'core/ and engines/ must not depend on Electron' }] }],
    },
  },
  // The desktop app's layers (architecture.md): main/ uses electron only under main/electron/
  // (web mode runs without it); the renderer sees the preload contract and UI libraries only.
  {
    files: ['main/**/*.ts'],
    ignores: ['main/electron/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'only main/electron/ may import electron: web mode runs main/ without it' }] }],
    },
  },
  {
    files: ['renderer/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'electron', message: 'the renderer talks to main through window.multiengine only' }],
          patterns: [
            { group: ['node:*'], message: 'the renderer is sandboxed: no Node modules' },
            { group: ['**/core/**', '**/main/**'], message: 'the renderer imports the contract (preload/contract), never core or main' },
          ],
        },
      ],
    },
  },
);
