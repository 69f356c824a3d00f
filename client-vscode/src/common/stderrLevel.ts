/**
 * The level of a line the server (or its run host) writes to stderr.
 *
 * vscode-languageclient files every stderr line under `[error]`; Baton's lines start with
 * Python logging's `<date> <time> LEVEL name: message`, so the output channel can show INFO as
 * info. A line without a level (a traceback's continuation) keeps the level of the line before
 * it; text before any levelled line (an interpreter that cannot start) is an error. Pure.
 */

export type LineLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<string, LineLevel> = {
    DEBUG: 'debug',
    INFO: 'info',
    WARNING: 'warn',
    WARN: 'warn',
    ERROR: 'error',
    CRITICAL: 'error',
};

const PREFIX = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)? (DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL) /;

/** The level and the text to show (timestamp and level dropped: the channel adds its own). */
export function stderrLine(line: string, previous: LineLevel | undefined): { level: LineLevel; text: string } {
    const match = PREFIX.exec(line);
    if (match) {
        return { level: LEVELS[match[1]], text: line.slice(match[0].length) };
    }
    return { level: previous ?? 'error', text: line };
}

/** Feeds lines one by one, remembering the level of the last levelled line. */
export class StderrLevels {
    private last: LineLevel | undefined;

    next(line: string): { level: LineLevel; text: string } {
        const result = stderrLine(line, this.last);
        if (PREFIX.test(line)) {
            this.last = result.level;
        }
        return result;
    }
}
