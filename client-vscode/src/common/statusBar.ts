/**
 * Shows run state in the window: a status-bar item with the running step (click cancels, or
 * continues a run waiting at its plan), the `baton.hasActiveRuns`/`baton.hasWaitingRuns`
 * context keys for `when` clauses, and a message when a run waits for you or fails.
 */

import * as vscode from 'vscode';
import { CLIENT_COMMANDS } from './commands';
import { statusView, type RunTracker, type TrackedRun } from './runs';

export class RunStatusView implements vscode.Disposable {
    private readonly item: vscode.StatusBarItem;
    private readonly subscription: { dispose(): void };

    constructor(private readonly tracker: RunTracker) {
        this.item = vscode.window.createStatusBarItem('baton.status', vscode.StatusBarAlignment.Left, 10);
        this.item.name = 'Baton run';
        this.subscription = tracker.onDidChange((run, previous) => {
            this.render();
            this.announce(run, previous);
        });
        this.render();
    }

    private render(): void {
        const view = statusView(this.tracker);
        void vscode.commands.executeCommand('setContext', 'baton.hasActiveRuns', this.tracker.active().length > 0);
        void vscode.commands.executeCommand('setContext', 'baton.hasWaitingRuns', this.tracker.list('waiting').length > 0);
        if (view === undefined) {
            this.item.hide();
            return;
        }
        this.item.text = view.text;
        this.item.tooltip = view.tooltip;
        this.item.command = {
            title: view.action === 'continue' ? 'Continue run' : 'Cancel run',
            command: view.action === 'continue' ? CLIENT_COMMANDS.continue : CLIENT_COMMANDS.cancel,
            arguments: view.runId === undefined ? [] : [view.runId],
        };
        this.item.show();
    }

    private announce(run: TrackedRun, previous: string | undefined): void {
        if (run.status === previous) {
            return;
        }
        const label = run.task ? `"${run.task.length > 60 ? `${run.task.slice(0, 59)}…` : run.task}"` : run.runId;
        if (run.status === 'waiting') {
            void vscode.window
                .showInformationMessage(`Baton: the plan for ${label} is ready. Edit plan.md if needed, then continue.`, 'Continue', 'Cancel run')
                .then((choice) => {
                    if (choice === 'Continue') {
                        void vscode.commands.executeCommand(CLIENT_COMMANDS.continue, run.runId);
                    } else if (choice === 'Cancel run') {
                        void vscode.commands.executeCommand(CLIENT_COMMANDS.cancel, run.runId);
                    }
                });
        } else if (run.status === 'failed' || run.status === 'interrupted') {
            void vscode.window
                .showErrorMessage(`Baton: run ${label} ${run.status}${run.message ? `: ${run.message}` : ''}. Nothing was written.`, 'Show log')
                .then((choice) => {
                    if (choice === 'Show log') {
                        void vscode.commands.executeCommand(CLIENT_COMMANDS.showLog);
                    }
                });
        } else if (run.status === 'succeeded' && run.verdict) {
            void vscode.window.setStatusBarMessage(`Baton: ${label} finished — review ${run.verdict}`, 10_000);
        }
    }

    dispose(): void {
        this.subscription.dispose();
        this.item.dispose();
    }
}
