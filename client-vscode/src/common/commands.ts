/**
 * The palette, Explorer and editor-title commands that start runs, and the error reporting
 * every Baton command shares (empty task, no folder, missing API key → "Set API key").
 */

import * as vscode from 'vscode';
import { promptForApiKey, type ApiKeyStore } from './apiKey';
import { fixTestsArgs, InputError, parallelArgs, parseRunId, planArgs, SERVER_COMMANDS, triageArgs } from './args';
import { classifyError, describeFailure } from './errors';
import { CLIENT_COMMANDS } from './ids';
import type { TaskHistory } from './history';
import type { BatonLog } from './log';
import type { RunTracker } from './runs';
import { ServerUnavailable, type ServerManager } from './server';
import { askFailure, askTask } from './taskInput';

export { CLIENT_COMMANDS };

export interface Deps {
    manager: ServerManager;
    tracker: RunTracker;
    history: TaskHistory;
    apiKey: ApiKeyStore;
    log: BatonLog;
}

/** Reports a failed command the way its cause calls for; `retry` runs again after a key is set. */
export async function reportError(what: string, error: unknown, deps: Deps, command?: string, retry?: () => Promise<void>): Promise<void> {
    if (error instanceof ServerUnavailable) {
        return; // The user was told why when the server could not start.
    }
    const classified = classifyError(error, command);
    deps.log.error(`${what} failed`, error);
    if (classified.kind === 'input') {
        void vscode.window.showErrorMessage(`Baton: ${classified.message}`);
        return;
    }
    if (classified.kind === 'missingApiKey') {
        const choice = await vscode.window.showErrorMessage(
            `Baton: ${classified.message}`.replace(/^Baton: Baton: /, 'Baton: '),
            'Set API key',
        );
        if (choice === 'Set API key' && (await promptForApiKey(deps.apiKey))) {
            await deps.manager.pushSettings();
            if (retry !== undefined) {
                await retry();
            }
        }
        return;
    }
    if (classified.kind === 'untrustedWorkspace') {
        // The repository's baton.toml sets the endpoint or test command: VS Code's Workspace
        // Trust (or `baton trust`) lets it take effect; granting trust re-sends the settings.
        const choice = await vscode.window.showErrorMessage(
            `Baton: ${classified.message}`.replace(/^Baton: Baton: /, 'Baton: '),
            'Manage Workspace Trust',
        );
        if (choice === 'Manage Workspace Trust') {
            await vscode.commands.executeCommand('workbench.trust.manage');
        }
        return;
    }
    const choice = await vscode.window.showErrorMessage(describeFailure(what, error), 'Show log');
    if (choice === 'Show log') {
        deps.log.show();
    }
}

/** Wraps a command body so every failure reaches the user as a clear message, never a stack. */
export function guarded<A extends unknown[]>(what: string, deps: Deps, body: (...args: A) => Promise<void>, command?: string) {
    const run = async (...args: A): Promise<void> => {
        try {
            await body(...args);
        } catch (error) {
            await reportError(what, error, deps, command, () => run(...args));
        }
    };
    return run;
}

/** Runs `fn` once; on a missing API key, "Set API key" then runs it again with the same input. */
export function attempt(what: string, deps: Deps, command: string, fn: () => Promise<void>): Promise<void> {
    return guarded(what, deps, fn, command)();
}

const NO_TRIAGE =
    'This Baton server has no triage-fix-validate pipeline yet: update baton-lsp (pip install -U baton-lsp) and run "Baton: Restart server".';

export function requireFolder(): readonly vscode.WorkspaceFolder[] {
    const folders = vscode.workspace.workspaceFolders;
    if (!folders || folders.length === 0) {
        throw new InputError('Baton needs an open folder: open your project with File > Open Folder…, then run the command again.');
    }
    return folders;
}

async function pickFolder(): Promise<vscode.WorkspaceFolder | undefined> {
    const folders = requireFolder();
    if (folders.length === 1) {
        return folders[0];
    }
    const active = vscode.window.activeTextEditor?.document.uri;
    const current = active && vscode.workspace.getWorkspaceFolder(active);
    return current ?? vscode.window.showWorkspaceFolderPick({ placeHolder: 'Which folder should Baton work on?' });
}

/** A resource from the Explorer or editor title; must be a file inside an open folder. */
function checkScope(uri: vscode.Uri): string {
    if (uri.scheme !== 'file') {
        throw new InputError(`${uri.toString()} is not a file on disk; Baton runs on files and folders of the open workspace.`);
    }
    if (vscode.workspace.getWorkspaceFolder(uri) === undefined) {
        throw new InputError(`${uri.fsPath} is outside the open workspace folders; Baton only changes files inside them.`);
    }
    return uri.toString();
}

async function startPlan(deps: Deps, task: string, scope: string | undefined): Promise<string> {
    const answer = await deps.manager.execute(SERVER_COMMANDS.planImplementReview, planArgs(task, scope));
    const runId = parseRunId(SERVER_COMMANDS.planImplementReview, answer);
    deps.tracker.started(runId, task);
    deps.log.info(`Started run ${runId}: "${task}"${scope ? ` on ${scope}` : ''}.`);
    return runId;
}

async function startParallel(deps: Deps, task: string, scopes: string[]): Promise<void> {
    const args = parallelArgs(task, scopes);
    const unsupported = async (): Promise<void> => {
        void vscode.window.showInformationMessage(
            `Baton: this server has no parallel-modules pipeline yet, so Baton starts one plan-implement-review run per module (${args.modules.length} runs).`,
        );
        for (const scope of args.modules) {
            await startPlan(deps, args.task, scope);
        }
    };
    if (deps.manager.supportsCommand(SERVER_COMMANDS.parallelModules) === false) {
        return unsupported();
    }
    try {
        const answer = await deps.manager.execute(SERVER_COMMANDS.parallelModules, args);
        const runId = parseRunId(SERVER_COMMANDS.parallelModules, answer);
        deps.tracker.started(runId, args.task);
        deps.log.info(`Started parallel run ${runId} over ${args.modules.length} modules.`);
    } catch (error) {
        if (classifyError(error, SERVER_COMMANDS.parallelModules).kind !== 'unknownCommand') {
            throw error;
        }
        await unsupported();
    }
}

export function registerRunCommands(context: vscode.ExtensionContext, deps: Deps): void {
    const register = (id: string, handler: (...args: never[]) => Promise<void>) =>
        context.subscriptions.push(vscode.commands.registerCommand(id, handler));

    register(
        CLIENT_COMMANDS.runTask,
        guarded('Plan, implement and review', deps, async (preset?: string) => {
            const folder = await pickFolder();
            if (folder === undefined) {
                return;
            }
            const task = typeof preset === 'string' ? preset : await askTask(deps.history, `Baton: plan, implement and review in ${folder.name}`);
            if (task === undefined) {
                return;
            }
            const checked = planArgs(task).task; // refuses an empty preset task before the server starts
            await deps.history.remember(checked);
            await attempt('Plan, implement and review', deps, SERVER_COMMANDS.planImplementReview, async () => {
                await startPlan(deps, checked, folder.uri.toString());
            });
        }, SERVER_COMMANDS.planImplementReview),
    );

    register(
        CLIENT_COMMANDS.runOnModule,
        guarded('Run on this module', deps, async (clicked?: unknown, selected?: unknown, preset?: string) => {
            requireFolder();
            const fromEditor = vscode.window.activeTextEditor?.document.uri;
            // Explorer: (clicked, all selected); editor title: (uri, {groupId}) — so check for an array.
            const multi = Array.isArray(selected) ? selected.filter((u): u is vscode.Uri => u instanceof vscode.Uri) : [];
            const single = clicked instanceof vscode.Uri ? clicked : fromEditor;
            const uris = multi.length > 0 ? multi : single ? [single] : [];
            if (uris.length === 0) {
                throw new InputError('Nothing selected: right-click a file or folder in the Explorer (or open a file), then run "Run on this module…".');
            }
            const scopes = uris.map(checkScope);
            const names = uris.map((u) => vscode.workspace.asRelativePath(u, false));
            const title = scopes.length === 1 ? `Baton: run on ${names[0]}` : `Baton: run on ${scopes.length} modules in parallel`;
            const task = typeof preset === 'string' ? preset : await askTask(deps.history, title);
            if (task === undefined) {
                return;
            }
            const checked = planArgs(task).task;
            await deps.history.remember(checked);
            await attempt('Run on this module', deps, SERVER_COMMANDS.planImplementReview, async () => {
                if (scopes.length === 1) {
                    await startPlan(deps, checked, scopes[0]);
                } else {
                    await startParallel(deps, checked, scopes);
                }
            });
        }, SERVER_COMMANDS.planImplementReview),
    );

    register(
        CLIENT_COMMANDS.triage,
        guarded('Triage, fix and validate', deps, async (preset?: string) => {
            const folder = await pickFolder();
            if (folder === undefined) {
                return;
            }
            const failure = typeof preset === 'string' ? preset : await askFailure();
            if (failure === undefined) {
                return;
            }
            const args = triageArgs(failure, folder.uri.toString());
            if (deps.manager.supportsCommand(SERVER_COMMANDS.triageFixValidate) === false) {
                throw new InputError(NO_TRIAGE);
            }
            await attempt('Triage, fix and validate', deps, SERVER_COMMANDS.triageFixValidate, async () => {
                try {
                    const answer = await deps.manager.execute(SERVER_COMMANDS.triageFixValidate, args);
                    deps.tracker.started(parseRunId(SERVER_COMMANDS.triageFixValidate, answer), `triage: ${args.log.split('\n')[0]}`);
                } catch (error) {
                    if (classifyError(error, SERVER_COMMANDS.triageFixValidate).kind === 'unknownCommand') {
                        throw new InputError(NO_TRIAGE);
                    }
                    throw error;
                }
            });
        }, SERVER_COMMANDS.triageFixValidate),
    );

    register(
        CLIENT_COMMANDS.fixFailingTests,
        guarded('Fix failing tests', deps, async (target?: { scope?: string; tests?: string[] }) => {
            let scope = target?.scope;
            if (scope === undefined) {
                const folder = await pickFolder();
                if (folder === undefined) {
                    return;
                }
                scope = folder.uri.toString();
            }
            const args = fixTestsArgs(scope, target?.tests ?? []);
            if (deps.manager.supportsCommand(SERVER_COMMANDS.triageFixValidate) === false) {
                throw new InputError(NO_TRIAGE);
            }
            await attempt('Fix failing tests', deps, SERVER_COMMANDS.triageFixValidate, async () => {
                const answer = await deps.manager.execute(SERVER_COMMANDS.triageFixValidate, args);
                const what = args.tests ? args.tests.join(', ') : 'the failing tests';
                deps.tracker.started(parseRunId(SERVER_COMMANDS.triageFixValidate, answer), `fix: ${what}`);
            });
        }, SERVER_COMMANDS.triageFixValidate),
    );

    register(CLIENT_COMMANDS.setApiKey, guarded('Set API key', deps, async () => {
        if (await promptForApiKey(deps.apiKey)) {
            await deps.manager.pushSettings();
        }
    }));

    register(CLIENT_COMMANDS.restartServer, guarded('Restart server', deps, async () => {
        const client = await deps.manager.restart('requested by the user');
        if (client !== undefined) {
            void vscode.window.showInformationMessage('Baton: server restarted.');
        }
    }));

    register(CLIENT_COMMANDS.showLog, () => Promise.resolve(deps.log.show()));
}
