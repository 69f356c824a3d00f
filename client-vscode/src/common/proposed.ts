/**
 * "Show proposed diff": the current file against the run's proposed text, in VS Code's diff
 * editor. The right side is a `baton-proposed:` document whose text comes from
 * `baton.proposedContent`, so nothing is written to disk to show it.
 */

import * as path from 'node:path';
import * as vscode from 'vscode';
import { InputError, parseProposedContent, parseProposedFiles, runArgs, SERVER_COMMANDS, type ProposedFile } from './args';
import { CLIENT_COMMANDS, guarded, type Deps } from './commands';
import { pickRun } from './manage';
import { decodeProposed, encodeProposed, PROPOSED_SCHEME, type ProposedRef } from './proposedUri';
import type { ServerManager } from './server';

export function proposedUri(ref: ProposedRef): vscode.Uri {
    return vscode.Uri.from(encodeProposed(ref));
}

export class ProposedContentProvider implements vscode.TextDocumentContentProvider {
    constructor(private readonly manager: ServerManager) {}

    async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
        const ref = decodeProposed(uri.query);
        if (ref.empty) {
            return '';
        }
        const answer = await this.manager.execute(SERVER_COMMANDS.proposedContent, { runId: ref.runId, uri: ref.uri });
        return parseProposedContent(answer) ?? '';
    }
}

/** The two sides of the diff for one proposed file. */
function sides(runId: string, file: ProposedFile): { left: vscode.Uri; right: vscode.Uri } {
    const current = vscode.Uri.parse(file.uri);
    switch (file.kind) {
        case 'create':
            return { left: proposedUri({ runId, uri: file.uri, empty: true }), right: proposedUri({ runId, uri: file.uri }) };
        case 'delete':
            return { left: current, right: proposedUri({ runId, uri: file.uri, empty: true }) };
        case 'rename':
            return { left: current, right: proposedUri({ runId, uri: file.newUri ?? file.uri }) };
        case 'update':
            return { left: current, right: proposedUri({ runId, uri: file.uri }) };
    }
}

export async function showProposedDiff(deps: Deps, runId: string): Promise<void> {
    const files = parseProposedFiles(await deps.manager.execute(SERVER_COMMANDS.proposedFiles, runArgs(runId)));
    if (files.length === 0) {
        throw new InputError(`Run ${runId} proposes no changes.`);
    }
    let file: ProposedFile | undefined = files[0];
    if (files.length > 1) {
        const picked = await vscode.window.showQuickPick(
            files.map((f) => ({
                label: vscode.workspace.asRelativePath(vscode.Uri.parse(f.uri), false),
                description: f.kind === 'rename' && f.newUri ? `rename → ${vscode.workspace.asRelativePath(vscode.Uri.parse(f.newUri), false)}` : f.kind,
                file: f,
            })),
            { placeHolder: `Run ${runId} changes ${files.length} files: pick one to compare` },
        );
        file = picked?.file;
    }
    if (file === undefined) {
        return;
    }
    const { left, right } = sides(runId, file);
    const name = path.posix.basename(vscode.Uri.parse(file.newUri ?? file.uri).path);
    await vscode.commands.executeCommand('vscode.diff', left, right, `${name} (current ↔ Baton proposed, ${file.kind})`);
}

export function registerProposed(context: vscode.ExtensionContext, deps: Deps): void {
    const provider = new ProposedContentProvider(deps.manager);
    context.subscriptions.push(
        vscode.workspace.registerTextDocumentContentProvider(PROPOSED_SCHEME, provider),
        vscode.commands.registerCommand(
            CLIENT_COMMANDS.showProposedDiff,
            guarded('Show proposed diff', deps, async (preset?: unknown) => {
                const runId = await pickRun(deps, 'Which run\'s proposed changes should Baton show?', [], preset);
                if (runId !== undefined) {
                    await showProposedDiff(deps, runId);
                }
            }, SERVER_COMMANDS.proposedFiles),
        ),
    );
}
