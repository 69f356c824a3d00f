/**
 * Finds the Python interpreter that runs the Baton server and checks that Baton is installed in it.
 *
 * Order: the `baton.interpreter` setting, then the Python extension's active environment, then
 * `python3` on PATH. The Python extension is reached through the tiny {@link ExtensionsLike}
 * interface so this module never imports `vscode` at run time and unit tests run in plain Node.
 */

import { execFile } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';

export const PYTHON_EXTENSION_ID = 'ms-python.python';
export const SERVER_MODULE = 'baton.server';
export const PACKAGE_NAME = 'baton-lsp';

export type InterpreterSource = 'setting' | 'pythonExtension' | 'path';

export interface Interpreter {
    path: string;
    source: InterpreterSource;
}

/** The slice of the Python extension's exported API (`environments`) that Baton uses. */
export interface PythonExtensionApi {
    ready?: Promise<void>;
    environments: {
        getActiveEnvironmentPath(resource?: unknown): { id: string; path: string };
        resolveEnvironment(env: { id: string; path: string } | string): Promise<
            { executable: { uri?: { fsPath: string } } } | undefined
        >;
        onDidChangeActiveEnvironmentPath?(listener: (e: unknown) => unknown): { dispose(): unknown };
    };
}

/** The slice of `vscode.extensions` needed to reach the Python extension. */
export interface ExtensionsLike {
    getExtension(id: string): { isActive: boolean; exports: unknown; activate(): Thenable<unknown> } | undefined;
}

/** Returns the Python extension's API, or undefined when it is not installed or does not load. */
export async function pythonExtensionApi(extensions: ExtensionsLike): Promise<PythonExtensionApi | undefined> {
    const extension = extensions.getExtension(PYTHON_EXTENSION_ID);
    if (extension === undefined) {
        return undefined;
    }
    const exported = extension.isActive ? extension.exports : await extension.activate();
    const api = exported as Partial<PythonExtensionApi> | undefined;
    if (!api || typeof api.environments?.getActiveEnvironmentPath !== 'function') {
        return undefined;
    }
    return api as PythonExtensionApi;
}

/** The active interpreter the Python extension selected for `resource`, if it resolves to an executable. */
export async function interpreterFromPythonExtension(
    api: PythonExtensionApi | undefined,
    resource?: unknown,
): Promise<string | undefined> {
    if (api === undefined) {
        return undefined;
    }
    await api.ready;
    const active = api.environments.getActiveEnvironmentPath(resource);
    const resolved = await api.environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath;
}

async function isExecutableFile(file: string): Promise<boolean> {
    try {
        const stat = await fs.stat(file);
        if (!stat.isFile()) {
            return false;
        }
        await fs.access(file, fsConstants.X_OK);
        return true;
    } catch {
        return false;
    }
}

/** Looks `names` up on a PATH string the way a shell does (PATHEXT-aware on Windows). */
export async function findOnPath(
    names: readonly string[],
    envPath: string | undefined,
    platform: NodeJS.Platform = process.platform,
    pathExt = '.EXE;.CMD;.BAT',
): Promise<string | undefined> {
    const delimiter = platform === 'win32' ? ';' : ':';
    const dirs = (envPath ?? '').split(delimiter).filter((d) => d !== '');
    const suffixes = platform === 'win32' ? ['', ...pathExt.split(';').map((e) => e.toLowerCase())] : [''];
    for (const name of names) {
        for (const dir of dirs) {
            for (const suffix of suffixes) {
                const candidate = path.join(dir, name + suffix);
                if (await isExecutableFile(candidate)) {
                    return candidate;
                }
            }
        }
    }
    return undefined;
}

export interface DiscoveryInputs {
    /** `baton.interpreter`, already expanded; '' when unset. */
    setting: string;
    /** Asks the Python extension; may throw or return undefined. */
    fromPythonExtension?: () => Promise<string | undefined>;
    envPath: string | undefined;
    platform?: NodeJS.Platform;
}

/** Picks the interpreter: setting, then the Python extension, then python3/python on PATH. */
export async function discoverInterpreter(inputs: DiscoveryInputs): Promise<Interpreter | undefined> {
    if (inputs.setting !== '') {
        return { path: inputs.setting, source: 'setting' };
    }
    if (inputs.fromPythonExtension !== undefined) {
        try {
            const found = await inputs.fromPythonExtension();
            if (found) {
                return { path: found, source: 'pythonExtension' };
            }
        } catch {
            // A broken or still-loading Python extension must not block Baton: fall through to PATH.
        }
    }
    const platform = inputs.platform ?? process.platform;
    const names = platform === 'win32' ? ['python', 'py'] : ['python3', 'python'];
    const onPath = await findOnPath(names, inputs.envPath, platform);
    return onPath === undefined ? undefined : { path: onPath, source: 'path' };
}

export function describeSource(source: InterpreterSource): string {
    switch (source) {
        case 'setting':
            return 'the baton.interpreter setting';
        case 'pythonExtension':
            return "the Python extension's selected interpreter";
        case 'path':
            return 'python3 on PATH';
    }
}

export type ServerCheck =
    | { ok: true; version: string }
    | { ok: false; reason: 'interpreterNotFound' | 'notInstalled' | 'failed'; detail: string };

interface ExecResult {
    /** Exit code, or undefined when the process did not start or was killed. */
    code?: number;
    /** Why the process did not start (ENOENT, EACCES, ...). */
    spawnError?: string;
    timedOut: boolean;
    stdout: string;
    stderr: string;
}

function run(command: string, args: string[], cwd: string | undefined, timeoutMs: number): Promise<ExecResult> {
    return new Promise((resolve) => {
        execFile(command, args, { cwd, timeout: timeoutMs, windowsHide: true }, (error, stdout, stderr) => {
            if (error === null) {
                resolve({ code: 0, timedOut: false, stdout, stderr });
                return;
            }
            const code: unknown = (error as { code?: unknown }).code;
            resolve({
                code: typeof code === 'number' ? code : undefined,
                spawnError: typeof code === 'string' ? code : undefined,
                timedOut: error.killed === true,
                stdout,
                stderr: stderr || error.message,
            });
        });
    });
}

function lastLines(text: string, count = 5): string {
    return text.trim().split(/\r?\n/).slice(-count).join('\n');
}

/** Runs `<python> -m baton.server --version` and says what is wrong when it does not answer. */
export async function checkServer(python: string, cwd?: string, timeoutMs = 30_000): Promise<ServerCheck> {
    const result = await run(python, ['-m', SERVER_MODULE, '--version'], cwd, timeoutMs);
    if (result.spawnError !== undefined) {
        return { ok: false, reason: 'interpreterNotFound', detail: `${python} cannot be run (${result.spawnError})` };
    }
    if (result.timedOut) {
        return { ok: false, reason: 'failed', detail: `no answer within ${Math.round(timeoutMs / 1000)} s` };
    }
    const match = /baton-lsp\s+(\S+)/.exec(result.stdout);
    if (result.code === 0 && match) {
        return { ok: true, version: match[1] };
    }
    const output = `${result.stderr}\n${result.stdout}`;
    if (/No module named ['"]?baton/.test(output)) {
        return { ok: false, reason: 'notInstalled', detail: lastLines(output, 1) };
    }
    const exit = result.code === undefined ? 'was stopped' : `exited with ${result.code}`;
    return { ok: false, reason: 'failed', detail: `${exit}: ${lastLines(output) || 'no output'}` };
}

/** The pip command that installs Baton into `python` (shown to the user before it runs). */
export function pipInstallArgs(): string[] {
    return ['-m', 'pip', 'install', '--upgrade', PACKAGE_NAME];
}
