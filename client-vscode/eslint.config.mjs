// ESLint flat config: recommended JS + type-aware TypeScript rules for src/ and test/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
    { ignores: ['dist/**', 'out/**', 'node_modules/**', '.e2e/**', '*.vsix'] },
    js.configs.recommended,
    ...tseslint.configs.recommendedTypeChecked,
    {
        files: ['**/*.ts'],
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        rules: {
            curly: 'error',
            eqeqeq: 'error',
            'no-throw-literal': 'error',
            '@typescript-eslint/no-floating-promises': 'error',
            '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
            '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
            // Pure modules must stay loadable in plain Node: only type imports of 'vscode' there.
        },
    },
    {
        files: ['src/common/{args,errors,history,ids,launch,proposedUri,python,redact,runs,settings,statsHtml}.ts', 'test/**/*.ts'],
        rules: {
            'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'Pure module: keep it free of the vscode runtime (unit tests run in plain Node).', allowTypeImports: true }] }],
        },
    },
    {
        // node:test's describe/it return promises the runner itself awaits.
        files: ['test/**/*.ts'],
        rules: {
            '@typescript-eslint/no-floating-promises': [
                'error',
                { allowForKnownSafeCalls: [{ from: 'package', name: ['describe', 'it', 'test', 'before', 'after'], package: 'node:test' }] },
            ],
        },
    },
    {
        files: ['**/*.mjs'],
        ...tseslint.configs.disableTypeChecked,
        languageOptions: {
            ...tseslint.configs.disableTypeChecked.languageOptions,
            globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' },
        },
    },
);
