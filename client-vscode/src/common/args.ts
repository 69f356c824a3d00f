/**
 * Builds the one argument object each `workspace/executeCommand` carries, and checks the answers.
 *
 * Pure and shared by the extension and the integration test, so both speak the same contract.
 * Bad input (an empty task, no scope) is refused here with a message that says what to do.
 */

export const SERVER_COMMANDS = {
    planImplementReview: 'baton.planImplementReview',
    parallelModules: 'baton.parallelModules',
    triageFixValidate: 'baton.triageFixValidate',
    cancelRun: 'baton.cancelRun',
    continueRun: 'baton.continueRun',
    listRuns: 'baton.listRuns',
    showRun: 'baton.showRun',
    applyRun: 'baton.applyRun',
    showStats: 'baton.showStats',
    proposedFiles: 'baton.proposedFiles',
    proposedContent: 'baton.proposedContent',
    dismissRun: 'baton.dismissRun',
} as const;

export type ServerCommand = (typeof SERVER_COMMANDS)[keyof typeof SERVER_COMMANDS];

/** A refused input: the message is for the user as is. */
export class InputError extends Error {
    constructor(message: string) {
        super(message);
        this.name = 'InputError';
    }
}

export const MAX_TASK_LENGTH = 20_000;

/** Trims a task; an empty or absurdly long one is refused. */
export function validateTask(task: string | undefined): string {
    const trimmed = (task ?? '').trim();
    if (trimmed === '') {
        throw new InputError('The task is empty: describe what Baton should change, e.g. "add input validation to parse_config".');
    }
    if (trimmed.length > MAX_TASK_LENGTH) {
        throw new InputError(
            `The task is ${trimmed.length} characters long; keep it under ${MAX_TASK_LENGTH} and put details in a file in the scope.`,
        );
    }
    return trimmed;
}

/** Message for the input box while the user types; undefined when acceptable. */
export function taskInputProblem(value: string): string | undefined {
    try {
        validateTask(value);
        return undefined;
    } catch (error) {
        return (error as Error).message;
    }
}

export interface PlanArgs {
    task: string;
    scope?: string;
    confirmPlan?: boolean;
}

export function planArgs(task: string | undefined, scope?: string, confirmPlan?: boolean): PlanArgs {
    const args: PlanArgs = { task: validateTask(task) };
    if (scope !== undefined) {
        args.scope = scope;
    }
    if (confirmPlan !== undefined) {
        args.confirmPlan = confirmPlan;
    }
    return args;
}

/** baton.parallelModules: one run over every selected module (file:// URIs, de-duplicated). */
export function parallelArgs(task: string | undefined, modules: readonly string[]): { task: string; modules: string[] } {
    const unique = [...new Set(modules)];
    if (unique.length === 0) {
        throw new InputError('No modules selected: select one or more files or folders in the Explorer, then run again.');
    }
    return { task: validateTask(task), modules: unique };
}

/** A pasted failure (CI log, pytest output or issue text): sent as `log`; the server reads text
 *  that holds no failure it recognises as an issue. */
export function triageArgs(failure: string | undefined, scope?: string): { log: string; scope?: string } {
    const trimmed = (failure ?? '').trim();
    if (trimmed === '') {
        throw new InputError('The failure text is empty: paste a CI log, pytest output or issue text (or select it in an editor).');
    }
    return scope === undefined ? { log: trimmed } : { log: trimmed, scope };
}

/** "Fix failing tests": no failure text, so the server runs the tests now and triages what fails;
 *  `tests` (pytest ids) narrows it to the tests a code action points at. */
export function fixTestsArgs(scope: string, tests: readonly string[] = []): { scope: string; tests?: string[] } {
    const ids = [...new Set(tests.map((t) => t.trim()).filter((t) => t !== ''))];
    return ids.length === 0 ? { scope } : { scope, tests: ids };
}

/** The pytest id of the test function (and its Test class) around `line` of a test file, or
 *  undefined when the line is not inside one. Pure: the code action's logic, unit-tested. */
export function testIdAt(lines: readonly string[], line: number, relPath: string): string | undefined {
    const base = relPath.split('/').pop() ?? '';
    if (!/^test_.*\.py$|_test\.py$/.test(base)) {
        return undefined;
    }
    const start = Math.min(line, lines.length - 1);
    const here = lines[start] ?? '';
    const cursorIndent = here.trim() === '' ? Infinity : here.length - here.trimStart().length;
    for (let i = start; i >= 0; i--) {
        const other = /^(\s*)(?:async\s+)?def\s+(\w+)\s*\(/.exec(lines[i]);
        if (other && !other[2].startsWith('test') && (i === start || other[1].length < cursorIndent)) {
            return undefined; // inside (or on) a function that is not a test
        }
        const fn = /^(\s*)(?:async\s+)?def\s+(test\w*)\s*\(/.exec(lines[i]);
        if (fn) {
            const indent = fn[1].length;
            let cls: string | undefined;
            if (indent > 0) {
                for (let j = i - 1; j >= 0; j--) {
                    const c = /^class\s+(\w+)/.exec(lines[j]);
                    if (c) {
                        cls = c[1];
                        break;
                    }
                    if (/^\S/.test(lines[j]) && !/^[@#]/.test(lines[j])) {
                        return undefined; // a nested def outside any class
                    }
                }
                if (cls === undefined) {
                    return undefined;
                }
            }
            return [relPath, ...(cls ? [cls] : []), fn[2]].join('::');
        }
        if (/^\S/.test(lines[i]) && !/^[@#)]/.test(lines[i]) && (i === start || !/^class\s/.test(lines[i]))) {
            return undefined; // a top-level statement (or a class line) before any test def
        }
    }
    return undefined;
}

export function runArgs(runId: string | undefined): { runId: string } {
    if (!runId || runId.trim() === '') {
        throw new InputError('No run selected: pick a run from "Baton: Show runs".');
    }
    return { runId };
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectAnswer(command: string, value: unknown): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new Error(`${command} answered ${JSON.stringify(value)}; expected an object. Is the Baton server up to date?`);
    }
    return value as Record<string, unknown>;
}

/** `{runId}` from a run-starting command. */
export function parseRunId(command: string, value: unknown): string {
    const runId = objectAnswer(command, value).runId;
    if (typeof runId !== 'string' || runId === '') {
        throw new Error(`${command} answered without a runId (${JSON.stringify(value)}).`);
    }
    return runId;
}

export function parseFlag(command: string, value: unknown, key: string): boolean {
    return objectAnswer(command, value)[key] === true;
}

export type RunStatus = 'running' | 'waiting' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
export type Verdict = 'approved' | 'rejected' | null;

export interface RunSummary {
    runId: string;
    pattern: string;
    task: string;
    status: string;
    verdict: Verdict;
    durationS: number;
    createdAt: string;
    scope: string | null;
}

export function parseRuns(value: unknown): RunSummary[] {
    const runs = objectAnswer(SERVER_COMMANDS.listRuns, value).runs;
    if (!Array.isArray(runs)) {
        throw new Error(`${SERVER_COMMANDS.listRuns} answered without a runs list.`);
    }
    return runs
        .filter((r: unknown): r is Record<string, unknown> => isRecord(r) && typeof r.runId === 'string')
        .map((r) => ({
            runId: r.runId as string,
            pattern: typeof r.pattern === 'string' ? r.pattern : '?',
            task: typeof r.task === 'string' ? r.task : '',
            status: typeof r.status === 'string' ? r.status : '?',
            verdict: r.verdict === 'approved' || r.verdict === 'rejected' ? r.verdict : null,
            durationS: typeof r.durationS === 'number' ? r.durationS : 0,
            createdAt: typeof r.createdAt === 'string' ? r.createdAt : '',
            scope: typeof r.scope === 'string' ? r.scope : null,
        }));
}

export type ProposedKind = 'create' | 'update' | 'delete' | 'rename';

export interface ProposedFile {
    uri: string;
    kind: ProposedKind;
    newUri?: string;
}

export function parseProposedFiles(value: unknown): ProposedFile[] {
    const files = objectAnswer(SERVER_COMMANDS.proposedFiles, value).files;
    if (!Array.isArray(files)) {
        throw new Error(`${SERVER_COMMANDS.proposedFiles} answered without a files list.`);
    }
    const kinds: readonly string[] = ['create', 'update', 'delete', 'rename'];
    return files
        .filter((f: unknown): f is Record<string, unknown> => isRecord(f) && typeof f.uri === 'string')
        .map((f) => {
            const file: ProposedFile = { uri: f.uri as string, kind: kinds.includes(f.kind as string) ? (f.kind as ProposedKind) : 'update' };
            if (typeof f.newUri === 'string') {
                file.newUri = f.newUri;
            }
            return file;
        });
}

export function parseProposedContent(value: unknown): string | null {
    const text = objectAnswer(SERVER_COMMANDS.proposedContent, value).text;
    return typeof text === 'string' ? text : null;
}

export interface StatRow {
    pattern: string;
    runs: number;
    successRate: number;
    meanDurationS: number;
    p50DurationS: number;
    p95DurationS: number;
}

/** One row of the last `baton eval` report: a pattern and a model set. */
export interface EvalRow {
    pattern: string;
    modelSet: string;
    runs: number;
    successRate: number;
    meanDurationS: number;
    ci95Low?: number;
    ci95High?: number;
}

/** The last eval's rows and id, from `baton.showStats`'s answer (absent before any eval). */
export function parseEvals(answer: unknown): { evalId?: string; evals: EvalRow[] } {
    if (!isRecord(answer)) {
        return { evals: [] };
    }
    return { evalId: typeof answer.evalId === 'string' ? answer.evalId : undefined, evals: parseEvalRows(answer.evals) };
}

export function parseEvalRows(value: unknown): EvalRow[] {
    const rows = Array.isArray(value) ? value : [];
    const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    const opt = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
    return rows
        .filter((r: unknown): r is Record<string, unknown> => isRecord(r))
        .map((r) => ({
            pattern: typeof r.pattern === 'string' ? r.pattern : '?',
            modelSet: typeof r.modelSet === 'string' ? r.modelSet : '?',
            runs: num(r.runs),
            successRate: num(r.successRate),
            meanDurationS: num(r.meanDurationS),
            ci95Low: opt(r.ci95Low),
            ci95High: opt(r.ci95High),
        }));
}

/** `baton.showStats`'s answer: normal runs (`stats`) and `baton eval` runs (`evalStats`) apart. */
export function parseStats(value: unknown): { uri?: string; stats: StatRow[]; evalStats: StatRow[] } {
    const answer = objectAnswer(SERVER_COMMANDS.showStats, value);
    return {
        uri: typeof answer.uri === 'string' ? answer.uri : undefined,
        stats: parseStatRows(answer.stats),
        evalStats: parseStatRows(answer.evalStats),
    };
}

function parseStatRows(value: unknown): StatRow[] {
    const rows = Array.isArray(value) ? value : [];
    const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    return rows
        .filter((r: unknown): r is Record<string, unknown> => isRecord(r))
        .map((r) => ({
            pattern: typeof r.pattern === 'string' ? r.pattern : '?',
            runs: num(r.runs),
            successRate: num(r.successRate),
            meanDurationS: num(r.meanDurationS),
            p50DurationS: num(r.p50DurationS),
            p95DurationS: num(r.p95DurationS),
        }));
}

/** "42 s", "3 min 5 s", "1 h 2 min". */
export function formatDuration(seconds: number): string {
    if (!Number.isFinite(seconds) || seconds < 0) {
        return '?';
    }
    if (seconds < 10) {
        return `${seconds.toFixed(1)} s`;
    }
    const s = Math.round(seconds);
    if (s < 60) {
        return `${s} s`;
    }
    if (s < 3600) {
        return `${Math.floor(s / 60)} min ${s % 60} s`;
    }
    return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

const STATUS_ICONS: Record<string, string> = {
    running: '$(sync~spin)',
    waiting: '$(debug-pause)',
    succeeded: '$(pass)',
    failed: '$(error)',
    cancelled: '$(circle-slash)',
    interrupted: '$(debug-disconnect)',
};

/** A quick-pick row for a run: status icon + task, then pattern, status, verdict and duration. */
export function runPickItem(run: RunSummary): { label: string; description: string; detail: string } {
    const icon = STATUS_ICONS[run.status] ?? '$(question)';
    const task = run.task.length > 80 ? `${run.task.slice(0, 79)}…` : run.task;
    const parts = [run.pattern, run.status];
    if (run.verdict !== null) {
        parts.push(run.verdict);
    }
    parts.push(formatDuration(run.durationS));
    const detail = [run.createdAt, run.scope ?? 'whole workspace', run.runId].filter((p) => p !== '').join(' · ');
    return { label: `${icon} ${task || run.runId}`, description: parts.join(' · '), detail };
}

/** Why a typed API key is not usable; undefined when it looks fine. */
export function apiKeyInputProblem(value: string): string | undefined {
    const key = value.trim();
    if (key === '') {
        return 'The API key is empty: paste the key from your provider.';
    }
    if (/\s/.test(key)) {
        return 'An API key has no spaces or line breaks: paste only the key.';
    }
    return undefined;
}
