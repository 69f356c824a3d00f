/**
 * Tells the user why the server cannot start (no interpreter, Baton not installed in it, a broken
 * install) and offers the fix: pick an interpreter, open the setting, or pip-install baton-lsp.
 */

import { spawn } from 'node:child_process';
import * as vscode from 'vscode';
import type { BatonLog } from './log';
import { describeSource, PACKAGE_NAME, pipInstallArgs, type Interpreter, type ServerCheck } from './python';

const OPEN_SETTING = 'Open setting';
const SELECT_INTERPRETER = 'Select interpreter';
const INSTALL = `Install ${PACKAGE_NAME}`;
const SHOW_LOG = 'Show log';

function openInterpreterSetting(): Thenable<unknown> {
    return vscode.commands.executeCommand('workbench.action.openSettings', 'baton.interpreter');
}

/** No `baton.interpreter`, no Python extension interpreter, no python3 on PATH. */
export async function reportNoInterpreter(log: BatonLog): Promise<void> {
    const message =
        'Baton: no Python interpreter found. Baton needs Python ≥ 3.11 with the baton-lsp package: set "baton.interpreter" ' +
        '(e.g. /path/to/.venv/bin/python), select an interpreter with the Python extension, or put python3 on PATH.';
    log.error(message);
    const hasPython = vscode.extensions.getExtension('ms-python.python') !== undefined;
    const choice = await vscode.window.showErrorMessage(message, OPEN_SETTING, ...(hasPython ? [SELECT_INTERPRETER] : []));
    if (choice === OPEN_SETTING) {
        await openInterpreterSetting();
    } else if (choice === SELECT_INTERPRETER) {
        await vscode.commands.executeCommand('python.setInterpreter');
    }
}

/** Explains a failed `--version` check; resolves true when baton-lsp was just installed. */
export async function reportCheckFailure(
    interpreter: Interpreter,
    check: Extract<ServerCheck, { ok: false }>,
    log: BatonLog,
): Promise<boolean> {
    const where = `${interpreter.path} (from ${describeSource(interpreter.source)})`;
    let message: string;
    const actions: string[] = [];
    switch (check.reason) {
        case 'interpreterNotFound':
            message = `Baton: the Python interpreter ${where} cannot be run: ${check.detail}. Point "baton.interpreter" at a Python ≥ 3.11 executable.`;
            actions.push(OPEN_SETTING);
            break;
        case 'notInstalled':
            message = `Baton: the Python package ${PACKAGE_NAME} is not installed in ${where}. Install it there, or point "baton.interpreter" at an environment that has it.`;
            actions.push(INSTALL, OPEN_SETTING);
            break;
        case 'failed':
            message = `Baton: "${interpreter.path} -m baton.server --version" failed (${check.detail}). Reinstall ${PACKAGE_NAME} in that interpreter or choose another one.`;
            actions.push(INSTALL, OPEN_SETTING, SHOW_LOG);
            break;
    }
    log.error(message);
    const choice = await vscode.window.showErrorMessage(message, ...actions);
    if (choice === OPEN_SETTING) {
        await openInterpreterSetting();
    } else if (choice === SHOW_LOG) {
        log.show();
    } else if (choice === INSTALL) {
        return installBaton(interpreter.path, log);
    }
    return false;
}

/** Runs `<python> -m pip install --upgrade baton-lsp`, streaming pip's output to the Baton log. */
export async function installBaton(python: string, log: BatonLog): Promise<boolean> {
    const args = pipInstallArgs();
    log.info(`Running: ${python} ${args.join(' ')}`);
    const code = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Baton: installing ${PACKAGE_NAME} into ${python}…` },
        () =>
            new Promise<number | string>((resolve) => {
                const child = spawn(python, args, { windowsHide: true });
                child.stdout.on('data', (d: Buffer) => log.channel.append(d.toString()));
                child.stderr.on('data', (d: Buffer) => log.channel.append(d.toString()));
                child.on('error', (e) => resolve(e.message));
                child.on('close', (c) => resolve(c ?? 'killed'));
            }),
    );
    if (code === 0) {
        void vscode.window.showInformationMessage(`Baton: ${PACKAGE_NAME} installed into ${python}; starting the server.`);
        return true;
    }
    const choice = await vscode.window.showErrorMessage(
        `Baton: pip could not install ${PACKAGE_NAME} into ${python} (${typeof code === 'number' ? `exit ${code}` : code}). ` +
            'See the Baton output. A system Python often refuses pip: create a virtual environment ' +
            '(python3 -m venv .venv) and set "baton.interpreter" to its python.',
        SHOW_LOG,
        OPEN_SETTING,
    );
    if (choice === SHOW_LOG) {
        log.show();
    } else if (choice === OPEN_SETTING) {
        await openInterpreterSetting();
    }
    return false;
}
