/**
 * Baton for VS Code: activation wires the parts in src/common together, nothing more.
 */

import * as vscode from 'vscode';
import { ApiKeyStore } from './common/apiKey';
import { registerRunCommands, type Deps } from './common/commands';
import { TaskHistory } from './common/history';
import { BatonLog } from './common/log';
import { registerManageCommands } from './common/manage';
import { registerProposed } from './common/proposed';
import { RunTracker } from './common/runs';
import { ServerManager } from './common/server';
import { RunStatusView } from './common/statusBar';
import { registerTestActions } from './common/testActions';

let manager: ServerManager | undefined;

export function activate(context: vscode.ExtensionContext): void {
    const log = new BatonLog();
    const apiKey = new ApiKeyStore(context.secrets);
    const tracker = new RunTracker();
    manager = new ServerManager(log, apiKey, tracker);
    const deps: Deps = { manager, tracker, history: new TaskHistory(context.globalState), apiKey, log };
    context.subscriptions.push(log, apiKey, manager, new RunStatusView(tracker));
    registerRunCommands(context, deps);
    registerManageCommands(context, deps);
    registerProposed(context, deps);
    registerTestActions(context);
    const manifest = context.extension.packageJSON as { version?: string };
    log.info(`Baton ${manifest.version ?? '?'} activated.`);
    if (vscode.workspace.workspaceFolders?.length) {
        void manager.ensureClient();
    }
}

export async function deactivate(): Promise<void> {
    await manager?.stop();
    manager = undefined;
}
