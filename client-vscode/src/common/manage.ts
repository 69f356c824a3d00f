/**
 * Commands on existing runs: cancel, continue past the plan gate, show runs, apply again,
 * statistics. Runs are picked from this window's tracker or the server's `baton.listRuns`.
 */

import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import { InputError, parseEvals, parseFlag, parseRuns, parseStats, runArgs, runPickItem, SERVER_COMMANDS, type RunStatus, type RunSummary } from './args';
import { CLIENT_COMMANDS, guarded, requireFolder, type Deps } from './commands';
import { statsTableHtml } from './statsHtml';

type RunItem = vscode.QuickPickItem & { runId: string };

async function serverRuns(deps: Deps, limit = 50): Promise<RunSummary[]> {
    return parseRuns(await deps.manager.execute(SERVER_COMMANDS.listRuns, { limit }));
}

/**
 * Picks a run: `preset` when given, else one of this window's runs in `statuses`, else the
 * server's list filtered the same way. Undefined when the user backs out.
 */
export async function pickRun(deps: Deps, placeHolder: string, statuses: RunStatus[], preset?: unknown): Promise<string | undefined> {
    if (typeof preset === 'string' && preset !== '') {
        return preset;
    }
    requireFolder();
    const local = deps.tracker.list(...statuses);
    let items: RunItem[];
    if (local.length > 0) {
        items = local.map((r) => ({ label: r.task || r.runId, description: `${r.status}${r.step ? ` · ${r.step}` : ''}`, detail: r.runId, runId: r.runId }));
    } else {
        const runs = (await serverRuns(deps)).filter((r) => statuses.length === 0 || statuses.includes(r.status as RunStatus));
        items = runs.map((r) => ({ ...runPickItem(r), runId: r.runId }));
    }
    if (items.length === 0) {
        const which = statuses.length === 0 ? '' : `${statuses.join(' or ')} `;
        throw new InputError(`There are no ${which}runs.`);
    }
    if (items.length === 1 && statuses.length > 0) {
        return items[0].runId;
    }
    const chosen = await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true, matchOnDetail: true });
    return chosen?.runId;
}

/** The one statistics view: shown again (refreshed) rather than opened a second time. */
let statsPanel: vscode.WebviewPanel | undefined;

async function showStatistics(deps: Deps, context: vscode.ExtensionContext): Promise<void> {
    requireFolder();
    // The extension announced experimental.baton.statsView: the server writes no stats.md.
    const answer = await deps.manager.execute(SERVER_COMMANDS.showStats, {});
    const { stats, evalStats } = parseStats(answer);
    const { evals, evalId } = parseEvals(answer);
    if (statsPanel === undefined) {
        statsPanel = vscode.window.createWebviewPanel('baton.statistics', 'Baton statistics', vscode.ViewColumn.Active, {
            enableScripts: false,
            localResourceRoots: [],
        });
        statsPanel.onDidDispose(() => (statsPanel = undefined));
        context.subscriptions.push(statsPanel);
    } else {
        statsPanel.reveal();
    }
    statsPanel.webview.html = statsTableHtml(stats, crypto.randomBytes(16).toString('base64'), { evalRuns: evalStats, evals, evalId });
}

export function registerManageCommands(context: vscode.ExtensionContext, deps: Deps): void {
    const register = (id: string, handler: (...args: never[]) => Promise<void>) =>
        context.subscriptions.push(vscode.commands.registerCommand(id, handler));

    register(
        CLIENT_COMMANDS.cancel,
        guarded('Cancel run', deps, async (preset?: unknown) => {
            const runId = await pickRun(deps, 'Which run should Baton cancel?', ['running', 'waiting'], preset);
            if (runId === undefined) {
                return;
            }
            const cancelled = parseFlag(SERVER_COMMANDS.cancelRun, await deps.manager.execute(SERVER_COMMANDS.cancelRun, runArgs(runId)), 'cancelled');
            void vscode.window.showInformationMessage(
                cancelled ? `Baton: run ${runId} cancelled; nothing was written.` : `Baton: run ${runId} was not running any more.`,
            );
        }, SERVER_COMMANDS.cancelRun),
    );

    register(
        CLIENT_COMMANDS.continue,
        guarded('Continue run', deps, async (preset?: unknown) => {
            const runId = await pickRun(deps, 'Which run waiting at its plan should continue?', ['waiting'], preset);
            if (runId === undefined) {
                return;
            }
            // Unsaved edits to plan.md must reach the disk before the server reads it.
            await vscode.workspace.saveAll(false);
            const continued = parseFlag(SERVER_COMMANDS.continueRun, await deps.manager.execute(SERVER_COMMANDS.continueRun, runArgs(runId)), 'continued');
            if (!continued) {
                void vscode.window.showWarningMessage(`Baton: run ${runId} was not waiting at its plan, so there was nothing to continue.`);
            }
        }, SERVER_COMMANDS.continueRun),
    );

    register(
        CLIENT_COMMANDS.showRuns,
        guarded('Show runs', deps, async () => {
            requireFolder();
            const runs = await serverRuns(deps);
            if (runs.length === 0) {
                void vscode.window.showInformationMessage('Baton: no runs yet. Start one with "Baton: Plan, implement and review…".');
                return;
            }
            const chosen = await vscode.window.showQuickPick(
                runs.map((r) => ({ ...runPickItem(r), runId: r.runId })),
                { placeHolder: 'Baton runs, newest first: pick one to open its diff', matchOnDescription: true, matchOnDetail: true },
            );
            if (chosen === undefined) {
                return;
            }
            const answer = (await deps.manager.execute(SERVER_COMMANDS.showRun, runArgs(chosen.runId))) as Record<string, unknown> | null;
            // The server leaves opening the run's documents to us (experimental.baton.artifacts).
            for (const key of ['plan', 'triage', 'review']) {
                const uri = answer?.[key];
                if (typeof uri === 'string' && uri.startsWith('file:')) {
                    await vscode.window.showTextDocument(vscode.Uri.parse(uri), { preview: false, preserveFocus: true });
                }
            }
            const diff = answer && typeof answer.diff === 'string' ? answer.diff : undefined;
            if (diff !== undefined) {
                await vscode.window.showTextDocument(vscode.Uri.parse(diff), { preview: true });
            } else if (!answer || (typeof answer.plan !== 'string' && typeof answer.review !== 'string')) {
                void vscode.window.showInformationMessage(`Baton: run ${chosen.runId} has no plan, review or diff yet.`);
            }
            const trace = answer && typeof answer.trace === 'string' ? answer.trace : undefined;
            if (trace !== undefined && trace.startsWith('file:')) {
                // The readable trace (timeline, hand-offs, model and tool calls): one self-contained page.
                void vscode.window
                    .showInformationMessage(`Baton: run ${chosen.runId}'s trace is ready.`, 'Open trace')
                    .then((pick) => (pick === 'Open trace' ? vscode.env.openExternal(vscode.Uri.parse(trace)) : undefined));
            }
        }, SERVER_COMMANDS.showRun),
    );

    register(
        CLIENT_COMMANDS.applyAgain,
        guarded('Apply run again', deps, async (preset?: unknown) => {
            const runId = await pickRun(deps, 'Which run should Baton offer to apply again?', ['succeeded'], preset);
            if (runId === undefined) {
                return;
            }
            // The outcome reaches the user once, as baton/editOutcome (notifications.ts).
            const applied = parseFlag(SERVER_COMMANDS.applyRun, await deps.manager.execute(SERVER_COMMANDS.applyRun, runArgs(runId)), 'applied');
            deps.log.info(`Apply run ${runId} again: ${applied ? 'applied' : 'not applied'}.`);
        }, SERVER_COMMANDS.applyRun),
    );

    register(CLIENT_COMMANDS.showStatistics, guarded('Show statistics', deps, () => showStatistics(deps, context), SERVER_COMMANDS.showStats));
}
