import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HISTORY_KEY, TaskHistory, taskPickItems, type MementoLike } from '../../src/common/history';

class MapMemento implements MementoLike {
    readonly values = new Map<string, unknown>();
    get<T>(key: string): T | undefined {
        return this.values.get(key) as T | undefined;
    }
    update(key: string, value: unknown): Promise<void> {
        this.values.set(key, value);
        return Promise.resolve();
    }
}

describe('TaskHistory', () => {
    it('keeps the most recent task first and moves a repeated one to the front', async () => {
        const history = new TaskHistory(new MapMemento());
        await history.remember('add logging');
        await history.remember('fix the parser');
        await history.remember('  add logging  ');
        assert.deepEqual(history.list(), ['add logging', 'fix the parser']);
    });

    it('keeps at most `size` tasks', async () => {
        const history = new TaskHistory(new MapMemento(), 3);
        for (const t of ['a', 'b', 'c', 'd', 'e']) {
            await history.remember(t);
        }
        assert.deepEqual(history.list(), ['e', 'd', 'c']);
    });

    it('ignores empty tasks and drops malformed stored entries', async () => {
        const memento = new MapMemento();
        memento.values.set(HISTORY_KEY, ['ok', 7, null, '', '  ', 'also ok']);
        const history = new TaskHistory(memento);
        assert.deepEqual(history.list(), ['ok', 'also ok']);
        await history.remember('   ');
        assert.deepEqual(memento.values.get(HISTORY_KEY), ['ok', 7, null, '', '  ', 'also ok']);
        memento.values.set(HISTORY_KEY, 'not a list');
        assert.deepEqual(history.list(), []);
    });

    it('persists through the memento, so a new window sees the same list', async () => {
        const memento = new MapMemento();
        await new TaskHistory(memento).remember('write tests for stats.py');
        assert.deepEqual(new TaskHistory(memento).list(), ['write tests for stats.py']);
        await new TaskHistory(memento).clear();
        assert.deepEqual(new TaskHistory(memento).list(), []);
    });
});

describe('taskPickItems', () => {
    it('offers what is typed first, then matching recent tasks', () => {
        const items = taskPickItems('parser', ['fix the parser', 'add logging', 'speed up parser']);
        assert.deepEqual(
            items.map((i) => [i.task, i.description]),
            [
                ['parser', 'new task'],
                ['fix the parser', 'recent'],
                ['speed up parser', 'recent'],
            ],
        );
    });

    it('shows the whole history when nothing is typed, and no duplicate of a typed recent task', () => {
        assert.deepEqual(taskPickItems('', ['a', 'b']).map((i) => i.task), ['a', 'b']);
        assert.deepEqual(taskPickItems('a', ['a', 'b']).map((i) => i.task), ['a']);
    });
});
