/**
 * How the server process is started, and how often a crashed server is restarted.
 *
 * Pure: the integration test launches the real server with the same {@link serverExecutable}
 * the extension hands to `vscode-languageclient`.
 */

import { SERVER_MODULE } from './python';

export interface ServerExecutable {
    command: string;
    args: string[];
    options: { cwd?: string; env: Record<string, string | undefined> };
}

/** `<python> -m baton.server`, unbuffered, in the workspace folder. */
export function serverExecutable(python: string, cwd: string | undefined, env: NodeJS.ProcessEnv): ServerExecutable {
    return {
        command: python,
        args: ['-m', SERVER_MODULE],
        options: { cwd, env: { ...env, PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8' } },
    };
}

export const MAX_RESTARTS = 3;
export const RESTART_WINDOW_MS = 3 * 60 * 1000;

/**
 * Allows `maxRestarts` restarts within `windowMs`; one more crash in that window stops the server
 * for good (until the user restarts it), so a server that dies at once does not loop forever.
 */
export class RestartPolicy {
    private crashes: number[] = [];

    constructor(
        private readonly maxRestarts = MAX_RESTARTS,
        private readonly windowMs = RESTART_WINDOW_MS,
        private readonly now: () => number = Date.now,
    ) {}

    /** Records a crash; true when the server should be restarted. */
    shouldRestart(): boolean {
        const t = this.now();
        this.crashes = this.crashes.filter((c) => t - c <= this.windowMs);
        this.crashes.push(t);
        return this.crashes.length <= this.maxRestarts;
    }

    get recentCrashes(): number {
        return this.crashes.length;
    }

    reset(): void {
        this.crashes = [];
    }
}
