import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
    checkServer,
    discoverInterpreter,
    findOnPath,
    interpreterFromPythonExtension,
    pythonExtensionApi,
    type ExtensionsLike,
    type PythonExtensionApi,
} from '../../src/common/python';
import { VENV_PYTHON } from '../paths';

let tmp: string;

function script(name: string, body: string): string {
    const file = path.join(tmp, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
}

before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'baton-python-test-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('findOnPath', () => {
    it('skips directories and non-executable files and finds the first executable', async () => {
        const dirA = path.join(tmp, 'a');
        const dirB = path.join(tmp, 'b');
        const dirC = path.join(tmp, 'c');
        mkdirSync(path.join(dirA, 'python3'), { recursive: true }); // a directory named python3
        mkdirSync(dirB);
        writeFileSync(path.join(dirB, 'python3'), 'not executable');
        mkdirSync(dirC);
        const good = path.join(dirC, 'python3');
        writeFileSync(good, '#!/bin/sh\n');
        chmodSync(good, 0o755);
        assert.equal(await findOnPath(['python3'], [dirA, dirB, '', dirC].join(':'), 'linux'), good);
    });

    it('answers undefined on an empty or missing PATH', async () => {
        assert.equal(await findOnPath(['python3'], '', 'linux'), undefined);
        assert.equal(await findOnPath(['python3'], undefined, 'linux'), undefined);
    });

    it('tries PATHEXT suffixes on Windows', async () => {
        const dir = path.join(tmp, 'win');
        mkdirSync(dir);
        const exe = path.join(dir, 'python.exe');
        writeFileSync(exe, '');
        chmodSync(exe, 0o755);
        assert.equal(await findOnPath(['python'], dir, 'win32', '.COM;.EXE'), exe);
    });
});

describe('discoverInterpreter', () => {
    it('prefers the baton.interpreter setting and does not ask the Python extension', async () => {
        let asked = 0;
        const found = await discoverInterpreter({
            setting: '/opt/py/bin/python',
            fromPythonExtension: () => {
                asked += 1;
                return Promise.resolve('/from/extension');
            },
            envPath: '',
        });
        assert.deepEqual(found, { path: '/opt/py/bin/python', source: 'setting' });
        assert.equal(asked, 0);
    });

    it("uses the Python extension's interpreter next", async () => {
        const found = await discoverInterpreter({ setting: '', fromPythonExtension: () => Promise.resolve('/from/extension'), envPath: '' });
        assert.deepEqual(found, { path: '/from/extension', source: 'pythonExtension' });
    });

    it('falls back to python3 on PATH when the extension has none or fails', async () => {
        const dir = path.join(tmp, 'pathonly');
        mkdirSync(dir);
        const py = path.join(dir, 'python3');
        writeFileSync(py, '#!/bin/sh\n');
        chmodSync(py, 0o755);
        for (const fromPythonExtension of [
            () => Promise.resolve(undefined),
            () => Promise.reject(new Error('python extension exploded')),
            undefined,
        ]) {
            const found = await discoverInterpreter({ setting: '', fromPythonExtension, envPath: dir, platform: 'linux' });
            assert.deepEqual(found, { path: py, source: 'path' });
        }
    });

    it('answers undefined when there is no interpreter anywhere', async () => {
        assert.equal(await discoverInterpreter({ setting: '', envPath: path.join(tmp, 'nothing-here'), platform: 'linux' }), undefined);
    });
});

describe('the Python extension API', () => {
    const api = (resolved: string | undefined, calls: string[]): PythonExtensionApi => ({
        ready: Promise.resolve().then(() => {
            calls.push('ready');
        }),
        environments: {
            getActiveEnvironmentPath: (resource?: unknown) => {
                calls.push(`active:${String(resource)}`);
                return { id: 'env', path: '/envs/x' };
            },
            resolveEnvironment: (env) => {
                calls.push(`resolve:${typeof env === 'string' ? env : env.path}`);
                return Promise.resolve(resolved === undefined ? undefined : { executable: { uri: { fsPath: resolved } } });
            },
        },
    });
    const extensions = (ext: ReturnType<ExtensionsLike['getExtension']>): ExtensionsLike => ({ getExtension: () => ext });

    it('is undefined when the Python extension is not installed', async () => {
        assert.equal(await pythonExtensionApi(extensions(undefined)), undefined);
        assert.equal(await interpreterFromPythonExtension(undefined), undefined);
    });

    it('activates an inactive extension and uses the exports it returns', async () => {
        const calls: string[] = [];
        const exported = api('/envs/x/bin/python', calls);
        let activated = 0;
        const found = await pythonExtensionApi(
            extensions({
                isActive: false,
                exports: undefined,
                activate: () => {
                    activated += 1;
                    return Promise.resolve(exported);
                },
            }),
        );
        assert.equal(activated, 1);
        assert.equal(await interpreterFromPythonExtension(found, 'file:///ws'), '/envs/x/bin/python');
        assert.deepEqual(calls, ['ready', 'active:file:///ws', 'resolve:/envs/x']);
    });

    it('ignores an extension whose exports lack the environments API', async () => {
        const found = await pythonExtensionApi(extensions({ isActive: true, exports: { settings: {} }, activate: () => Promise.resolve() }));
        assert.equal(found, undefined);
    });

    it('is undefined when the active environment does not resolve to an executable', async () => {
        assert.equal(await interpreterFromPythonExtension(api(undefined, [])), undefined);
    });
});

describe('checkServer (real subprocesses)', () => {
    it('passes with the project venv and reports the installed version', async (t) => {
        if (!existsSync(VENV_PYTHON)) {
            t.skip(`no venv python at ${VENV_PYTHON} (set BATON_PYTHON)`);
            return;
        }
        const expected = execFileSync(VENV_PYTHON, ['-c', 'from baton.pipelines import __version__; print(__version__)'], { encoding: 'utf8' }).trim();
        assert.deepEqual(await checkServer(VENV_PYTHON), { ok: true, version: expected });
    });

    it('says Baton is not installed in an interpreter without it', async (t) => {
        if (!existsSync(VENV_PYTHON)) {
            t.skip(`no venv python at ${VENV_PYTHON}`);
            return;
        }
        // -I -S: the same Python without site-packages, so `baton` cannot be imported.
        const bare = script('bare-python', `exec "${VENV_PYTHON}" -I -S "$@"`);
        const check = await checkServer(bare);
        assert.equal(check.ok, false);
        assert.equal(!check.ok && check.reason, 'notInstalled');
        assert.match(!check.ok ? check.detail : '', /No module named 'baton'/);
    });

    it('says the interpreter cannot be run when the path does not exist', async () => {
        const missing = path.join(tmp, 'no', 'such', 'python');
        const check = await checkServer(missing);
        assert.deepEqual(check, { ok: false, reason: 'interpreterNotFound', detail: `${missing} cannot be run (ENOENT)` });
    });

    it('reports the exit code and stderr of a broken install', async () => {
        const broken = script('broken-python', 'echo "ImportError: cannot import name run_server" >&2; exit 3');
        const check = await checkServer(broken);
        assert.deepEqual(check, { ok: false, reason: 'failed', detail: 'exited with 3: ImportError: cannot import name run_server' });
    });

    it('refuses an interpreter that answers something other than a baton-lsp version', async () => {
        const wrong = script('wrong-python', 'echo "Python 3.11.7"');
        const check = await checkServer(wrong);
        assert.equal(check.ok, false);
        assert.equal(!check.ok && check.reason, 'failed');
    });

    it('gives up on an interpreter that never answers', async () => {
        const hang = script('hanging-python', 'exec sleep 60');
        const check = await checkServer(hang, undefined, 1000);
        assert.deepEqual(check, { ok: false, reason: 'failed', detail: 'no answer within 1 s' });
    });
});
