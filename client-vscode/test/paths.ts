/** Where the extension and the repository are, seen from compiled tests in out/test/... */

import { readFileSync } from 'node:fs';
import * as path from 'node:path';

function findClientRoot(start: string): string {
    let dir = start;
    for (;;) {
        try {
            const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
            if (manifest.name === 'baton') {
                return dir;
            }
        } catch {
            // keep walking up
        }
        const parent = path.dirname(dir);
        if (parent === dir) {
            throw new Error(`client-vscode/package.json not found above ${start}`);
        }
        dir = parent;
    }
}

export const CLIENT_ROOT = findClientRoot(__dirname);
export const REPO_ROOT = path.dirname(CLIENT_ROOT);
/** The project's venv python (override with BATON_PYTHON). */
export const VENV_PYTHON = process.env.BATON_PYTHON ?? path.join(REPO_ROOT, '.venv', 'bin', 'python');
