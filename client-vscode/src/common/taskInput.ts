/**
 * Asks for a task: a quick pick where what you type is the new task and recent tasks are one
 * pick away. An empty task is refused in place, with a hint.
 */

import * as vscode from 'vscode';
import { taskInputProblem, validateTask } from './args';
import { taskPickItems, type TaskHistory, type TaskPickItem } from './history';

type Item = vscode.QuickPickItem & TaskPickItem;

const PLACEHOLDER = 'Describe the task, e.g. "add input validation to parse_config" — Enter to run, Esc to cancel';

export function askTask(history: TaskHistory, title: string, initial = ''): Promise<string | undefined> {
    const pick = vscode.window.createQuickPick<Item>();
    pick.title = title;
    pick.placeholder = PLACEHOLDER;
    pick.ignoreFocusOut = true;
    pick.matchOnDescription = false;
    const refresh = (): void => {
        pick.items = taskPickItems(pick.value, history.list());
    };
    pick.value = initial;
    refresh();
    return new Promise((resolve) => {
        let done = false;
        const finish = (value: string | undefined): void => {
            if (!done) {
                done = true;
                resolve(value);
                pick.dispose();
            }
        };
        pick.onDidChangeValue(() => {
            refresh();
            pick.title = title;
        });
        pick.onDidAccept(() => {
            const chosen = pick.selectedItems[0] ?? pick.activeItems[0];
            const task = chosen?.task ?? pick.value;
            const problem = taskInputProblem(task);
            if (problem !== undefined) {
                pick.title = `${title} — ${problem}`;
                return;
            }
            finish(validateTask(task));
        });
        pick.onDidHide(() => finish(undefined));
        pick.show();
    });
}

/** Failure text for triage: the selection in the active editor, else a multi-line paste box. */
export async function askFailure(): Promise<string | undefined> {
    const editor = vscode.window.activeTextEditor;
    const selected = editor && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : '';
    if (selected.trim() !== '') {
        return selected;
    }
    return vscode.window.showInputBox({
        title: 'Baton: Triage, fix and validate',
        prompt: 'Paste the failure (a CI log line, pytest output or issue text). Tip: select a whole log in an editor first to send all of it.',
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() === '' ? 'The failure text is empty: paste the error or test output.' : undefined),
    });
}
