/**
 * A code action on tests: inside a pytest test function, "Baton: Fix this test if it fails"
 * starts triage → fix → validate for that test id. The server reruns it first, so a test that
 * passes is reported as not reproducible and nothing is changed.
 */

import * as vscode from 'vscode';
import { testIdAt } from './args';
import { CLIENT_COMMANDS } from './ids';

export class FailingTestActions implements vscode.CodeActionProvider {
    static readonly kinds = [vscode.CodeActionKind.QuickFix];

    provideCodeActions(document: vscode.TextDocument, range: vscode.Range | vscode.Selection): vscode.CodeAction[] {
        const folder = vscode.workspace.getWorkspaceFolder(document.uri);
        if (folder === undefined || document.uri.scheme !== 'file') {
            return [];
        }
        const rel = vscode.workspace.asRelativePath(document.uri, false).replace(/\\/g, '/');
        const lines = document.getText(new vscode.Range(0, 0, range.start.line + 1, 0)).split(/\r?\n/);
        const id = testIdAt(lines, range.start.line, rel);
        if (id === undefined) {
            return [];
        }
        const action = new vscode.CodeAction(`Baton: Fix ${id.split('::').pop()} if it fails (triage → fix → validate)`,
            vscode.CodeActionKind.QuickFix);
        action.command = {
            command: CLIENT_COMMANDS.fixFailingTests,
            title: 'Fix failing test',
            arguments: [{ scope: folder.uri.toString(), tests: [id] }],
        };
        return [action];
    }
}

export function registerTestActions(context: vscode.ExtensionContext): void {
    context.subscriptions.push(vscode.languages.registerCodeActionsProvider(
        { language: 'python', scheme: 'file' }, new FailingTestActions(), { providedCodeActionKinds: FailingTestActions.kinds }));
}
