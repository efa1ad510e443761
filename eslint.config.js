// @ts-check
const eslint = require('@eslint/js');
const prettier = require('eslint-config-prettier');
const tseslint = require('typescript-eslint');

/** Layers, from the top: http → pay → icg / state. A layer never imports one above it (type imports included). */
const layer = (patterns, message) => ({
  'no-restricted-imports': 'off',
  '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: patterns, message }] }],
});

module.exports = tseslint.config(
  { ignores: ['dist/', 'packages/*/dist/', 'node_modules/', 'coverage/', 'test-artifacts/', 'bench-results/'] },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['*.config.js'] }, tsconfigRootDir: __dirname } },
    rules: {
      // Template strings with numbers and booleans are how log and error messages are written here.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  {
    files: ['src/http/**/*.ts'],
    rules: layer(['**/state', '**/state/**'], 'src/http talks to the pay use case and plain functions, never to src/state (see docs/design.md)'),
  },
  {
    files: ['src/pay/**/*.ts', 'src/icg/**/*.ts', 'src/state/**/*.ts'],
    rules: layer(['express', '**/http', '**/http/**'], 'Below src/http nothing knows Express'),
  },
  {
    files: ['src/state/**/*.ts'],
    rules: layer(['**/pay', '**/pay/**', '**/icg', '**/icg/**', '**/http', '**/http/**', 'express'], 'src/state is the bottom layer'),
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'commonjs',
      globals: { module: 'writable', require: 'readonly', __dirname: 'readonly' },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // jest's asymmetric matchers (expect.any, expect.stringContaining …) are typed `any` by @types/jest.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unsafe-assignment': 'off' },
  },
  {
    files: ['src/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: {
        document: 'readonly',
        fetch: 'readonly',
        crypto: 'readonly',
        window: 'readonly',
        FormData: 'readonly',
        sessionStorage: 'readonly',
        AbortSignal: 'readonly',
      },
    },
  },
  prettier,
);
