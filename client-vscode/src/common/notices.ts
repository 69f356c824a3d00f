/**
 * Baton's own notifications (`baton/editOutcome`, `baton/artifact`) and the capability that asks
 * for them, and what each one tells the user.
 *
 * The extension announces `experimental.baton.*`; the server then sends these instead of its
 * own showMessage, work-done progress and showDocument, so every event reaches the user once,
 * with its actions. Pure (no `vscode` import): unit tests and the integration harness use it.
 */

export const EDIT_OUTCOME_NOTIFICATION = 'baton/editOutcome';
export const ARTIFACT_NOTIFICATION = 'baton/artifact';

/** What the extension shows itself: run state and messages, documents, the statistics view. */
export const BATON_EXPERIMENTAL = { notifications: true, artifacts: true, statsView: true } as const;

/** The client's `experimental` capabilities with Baton's entry added (anything already there kept). */
export function withBatonCapabilities(experimental: unknown): Record<string, unknown> {
    const base = typeof experimental === 'object' && experimental !== null && !Array.isArray(experimental) ? (experimental as Record<string, unknown>) : {};
    return { ...base, baton: { ...BATON_EXPERIMENTAL } };
}

export interface EditOutcome {
    runId: string;
    task: string;
    applied: boolean;
    /** The user said no: Discard in the Refactor Preview, or nothing ticked. */
    declined: boolean;
    rebased: boolean;
    changes: number;
    leftAlone: string[];
    failureReason?: string;
    message: string;
}

export interface Artifact {
    runId: string;
    /** plan.md, review.md or triage.md */
    name: string;
    uri: string;
    task: string;
}

function record(value: unknown): Record<string, unknown> | undefined {
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Checks a `baton/editOutcome` payload; undefined when it does not fit the contract. */
export function parseEditOutcome(value: unknown): EditOutcome | undefined {
    const v = record(value);
    if (v === undefined || typeof v.runId !== 'string' || v.runId === '' || typeof v.applied !== 'boolean') {
        return undefined;
    }
    const outcome: EditOutcome = {
        runId: v.runId,
        task: str(v.task),
        applied: v.applied,
        declined: v.declined === true,
        rebased: v.rebased === true,
        changes: typeof v.changes === 'number' && Number.isFinite(v.changes) ? v.changes : 0,
        leftAlone: Array.isArray(v.leftAlone) ? v.leftAlone.filter((x): x is string => typeof x === 'string') : [],
        message: str(v.message),
    };
    if (typeof v.failureReason === 'string' && v.failureReason !== '') {
        outcome.failureReason = v.failureReason;
    }
    return outcome;
}

/** Checks a `baton/artifact` payload: only a file: URI of a document Baton writes. */
export function parseArtifact(value: unknown): Artifact | undefined {
    const v = record(value);
    if (v === undefined || typeof v.runId !== 'string' || typeof v.uri !== 'string' || !v.uri.startsWith('file:')) {
        return undefined;
    }
    return { runId: v.runId, name: str(v.name) || v.uri.split('/').pop() || '', uri: v.uri, task: str(v.task) };
}

/** "“add a mean() helper”", or the run id when the task is unknown. */
export function runLabel(task: string, runId: string): string {
    const first = task.trim().split('\n')[0] ?? '';
    if (first === '') {
        return `run ${runId}`;
    }
    return `“${first.length > 60 ? `${first.slice(0, 59)}…` : first}”`;
}

export type NoticeAction = 'Apply again' | 'Show proposed diff' | 'Show log';

export interface Notice {
    severity: 'info' | 'warning' | 'error';
    text: string;
    actions: NoticeAction[];
}

/**
 * The one message for an edit's outcome. A Discard is the user's choice, not a problem: a
 * neutral message that offers the change again. A change the editor could not apply says why
 * and what to do.
 */
export function editOutcomeNotice(o: EditOutcome): Notice {
    const label = runLabel(o.task, o.runId);
    const leftAlone = o.leftAlone.length > 0 ? ` Left alone: ${o.leftAlone.join('; ')}.` : '';
    if (o.applied) {
        const what = `${o.changes} change${o.changes === 1 ? '' : 's'}`;
        const text = `Baton: ${label}: ${what} applied${o.rebased ? ' (rebased onto your edits)' : ''}.${leftAlone}`;
        return leftAlone ? { severity: 'warning', text, actions: ['Show proposed diff'] } : { severity: 'info', text, actions: [] };
    }
    if (o.declined) {
        return { severity: 'info', text: `Baton: ${label}: the proposed change was not applied; nothing was written.`, actions: ['Apply again', 'Show proposed diff'] };
    }
    const why = o.failureReason ?? 'the editor did not apply the edit';
    return {
        severity: 'warning',
        text: `Baton: ${label}: the change was not applied (${why}); nothing was written.${leftAlone} Save or close the changed files, then apply it again.`,
        actions: ['Apply again', 'Show log'],
    };
}
