import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeProposed, encodeProposed, PROPOSED_SCHEME } from '../../src/common/proposedUri';

describe('baton-proposed URIs', () => {
    it('round-trips the run id and file URI, with the file path as the URI path', () => {
        const ref = { runId: '2025-01-01T00-00-00_ab12', uri: 'file:///home/u/my%20proj/pkg/m%C3%B6d.py' };
        const parts = encodeProposed(ref);
        assert.equal(parts.scheme, PROPOSED_SCHEME);
        assert.equal(parts.path, '/home/u/my proj/pkg/möd.py');
        assert.deepEqual(decodeProposed(parts.query), ref);
    });

    it('survives &, = and # in the file URI', () => {
        const ref = { runId: 'r&1', uri: 'file:///a/b%23c/x=y&z.py' };
        assert.deepEqual(decodeProposed(encodeProposed(ref).query), ref);
    });

    it('marks the empty side of a create or delete', () => {
        const ref = { runId: 'r', uri: 'file:///new.py', empty: true };
        assert.deepEqual(decodeProposed(encodeProposed(ref).query), ref);
    });

    it('keeps Windows drive paths readable', () => {
        assert.equal(encodeProposed({ runId: 'r', uri: 'file:///c%3A/ws/a.py' }).path, '/c:/ws/a.py');
    });

    it('refuses a query without run or uri, saying what is missing', () => {
        assert.throws(() => decodeProposed('run=r'), /needs run= and uri=/);
        assert.throws(() => decodeProposed(''), /Not a Baton proposed-file URI/);
    });
});
