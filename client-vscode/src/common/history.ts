/**
 * Remembers the last few tasks so a repeated or tweaked task is one pick away.
 *
 * Pure: stores through {@link MementoLike} (VS Code's `globalState` fits), so tests use a Map.
 */

export interface MementoLike {
    get<T>(key: string): T | undefined;
    update(key: string, value: unknown): Thenable<void>;
}

export const HISTORY_KEY = 'baton.taskHistory';
export const HISTORY_SIZE = 10;

export class TaskHistory {
    constructor(
        private readonly memento: MementoLike,
        private readonly size = HISTORY_SIZE,
    ) {}

    /** Most recent first; anything malformed in storage is dropped. */
    list(): string[] {
        const stored = this.memento.get<unknown>(HISTORY_KEY);
        if (!Array.isArray(stored)) {
            return [];
        }
        return stored.filter((t): t is string => typeof t === 'string' && t.trim() !== '').slice(0, this.size);
    }

    /** Puts `task` first, removing an earlier identical entry, and keeps at most `size`. */
    async remember(task: string): Promise<void> {
        const trimmed = task.trim();
        if (trimmed === '') {
            return;
        }
        const next = [trimmed, ...this.list().filter((t) => t !== trimmed)].slice(0, this.size);
        await this.memento.update(HISTORY_KEY, next);
    }

    async clear(): Promise<void> {
        await this.memento.update(HISTORY_KEY, []);
    }
}

export interface TaskPickItem {
    label: string;
    description?: string;
    /** The task this row stands for. */
    task: string;
}

/** Rows of the task picker: what is typed comes first, then matching earlier tasks. */
export function taskPickItems(typed: string, history: readonly string[]): TaskPickItem[] {
    const value = typed.trim();
    const items: TaskPickItem[] = [];
    if (value !== '') {
        items.push({ label: value, description: 'new task', task: value });
    }
    const needle = value.toLowerCase();
    for (const task of history) {
        if (task === value) {
            continue;
        }
        if (needle === '' || task.toLowerCase().includes(needle)) {
            items.push({ label: task, description: 'recent', task });
        }
    }
    return items;
}
