/**
 * Tracks the runs this window started from `baton/runUpdate` notifications.
 *
 * Pure (no `vscode` import): the status bar, the cancel/continue pickers and the context keys
 * read it; unit tests feed it notifications directly.
 */

import type { RunStatus } from './args';

export const RUN_UPDATE_NOTIFICATION = 'baton/runUpdate';

export interface RunUpdate {
    runId: string;
    status: RunStatus;
    step?: string;
    message?: string;
    verdict?: string | null;
    /** The run's task as the server names it (for runs this window did not start). */
    task?: string;
}

export interface TrackedRun {
    runId: string;
    task: string;
    status: RunStatus;
    step?: string;
    message?: string;
    verdict?: string | null;
    /** Order of the last change, to show the most recent run. */
    seq: number;
}

const STATUSES: readonly string[] = ['running', 'waiting', 'succeeded', 'failed', 'cancelled', 'interrupted'];
const TERMINAL: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled', 'interrupted'];

export function isTerminal(status: RunStatus): boolean {
    return TERMINAL.includes(status);
}

/** Checks a `baton/runUpdate` payload; undefined for anything that does not fit the contract. */
export function parseRunUpdate(value: unknown): RunUpdate | undefined {
    if (typeof value !== 'object' || value === null) {
        return undefined;
    }
    const v = value as Record<string, unknown>;
    if (typeof v.runId !== 'string' || v.runId === '' || typeof v.status !== 'string' || !STATUSES.includes(v.status)) {
        return undefined;
    }
    const update: RunUpdate = { runId: v.runId, status: v.status as RunStatus };
    if (typeof v.step === 'string') {
        update.step = v.step;
    }
    if (typeof v.message === 'string') {
        update.message = v.message;
    }
    if (typeof v.verdict === 'string' || v.verdict === null) {
        update.verdict = v.verdict;
    }
    if (typeof v.task === 'string' && v.task !== '') {
        update.task = v.task;
    }
    return update;
}

export type RunListener = (run: TrackedRun, previous: RunStatus | undefined) => void;

export class RunTracker {
    private readonly runs = new Map<string, TrackedRun>();
    private readonly listeners = new Set<RunListener>();
    private seq = 0;

    onDidChange(listener: RunListener): { dispose(): void } {
        this.listeners.add(listener);
        return { dispose: () => this.listeners.delete(listener) };
    }

    /** A run this window just started (before the server's first update). */
    started(runId: string, task: string): void {
        const existing = this.runs.get(runId);
        if (existing !== undefined) {
            existing.task = task;
            return;
        }
        this.apply({ runId, status: 'running' }, task);
    }

    update(update: RunUpdate): void {
        this.apply(update, this.runs.get(update.runId)?.task || update.task || '');
    }

    private apply(update: RunUpdate, task: string): void {
        const previous = this.runs.get(update.runId);
        const run: TrackedRun = {
            runId: update.runId,
            task,
            status: update.status,
            step: update.step ?? (previous?.status === update.status ? previous.step : undefined),
            message: update.message,
            verdict: update.verdict !== undefined ? update.verdict : previous?.verdict,
            seq: ++this.seq,
        };
        this.runs.set(run.runId, run);
        for (const listener of [...this.listeners]) {
            listener(run, previous?.status);
        }
    }

    get(runId: string): TrackedRun | undefined {
        return this.runs.get(runId);
    }

    /** Runs with one of `statuses`, most recent first. */
    list(...statuses: RunStatus[]): TrackedRun[] {
        return [...this.runs.values()]
            .filter((r) => statuses.length === 0 || statuses.includes(r.status))
            .sort((a, b) => b.seq - a.seq);
    }

    active(): TrackedRun[] {
        return this.list('running', 'waiting');
    }

    /** The server went away: its active runs are gone, mark them failed so nothing waits on them. */
    serverStopped(): void {
        for (const run of this.active()) {
            this.apply({ runId: run.runId, status: 'failed', message: 'the Baton server stopped' }, run.task);
        }
    }
}

export interface StatusView {
    text: string;
    tooltip: string;
    /** What a click does. */
    action: 'cancel' | 'continue' | 'showRuns';
    runId?: string;
}

function shortTask(task: string): string {
    return task.length > 40 ? `${task.slice(0, 39)}…` : task;
}

/** What the status bar shows: the most recent active run, or nothing. */
export function statusView(tracker: RunTracker): StatusView | undefined {
    const active = tracker.active();
    const run = active[0];
    if (run === undefined) {
        return undefined;
    }
    const more = active.length > 1 ? ` (+${active.length - 1})` : '';
    if (run.status === 'waiting') {
        return {
            text: `$(debug-pause) Baton: waiting for you to continue (plan.md)${more}`,
            tooltip: `Baton is waiting for you: read or edit plan.md of "${shortTask(run.task)}", then click to continue or cancel.`,
            action: 'continue',
            runId: run.runId,
        };
    }
    // The server's message is the human step ("implementing", "2/3 modules merged", "queued …").
    const doing = run.message ?? run.step ?? 'starting';
    return {
        text: `$(sync~spin) Baton: ${doing}${more}`,
        tooltip: `Baton is running "${shortTask(run.task)}": ${doing}. Click to cancel.`,
        action: 'cancel',
        runId: run.runId,
    };
}
