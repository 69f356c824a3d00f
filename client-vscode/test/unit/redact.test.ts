import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redact, redactArgs, REDACTED } from '../../src/common/redact';

describe('redact', () => {
    const key = 'my-local-key-1234';

    it('removes a registered key wherever it appears', () => {
        const line = `Sending request 'initialize' {"initializationOptions":{"apiKey":"${key}","models":{}}} and again ${key}`;
        const out = redact(line, [key]);
        assert.equal(out.includes(key), false);
        assert.equal(out.split(REDACTED).length - 1, 2);
    });

    it('masks any apiKey JSON field and sk- style keys even when not registered', () => {
        const out = redact('{"apiKey": "unregistered-secret"} Authorization: Bearer sk-proj-ABCDEFGHIJKLMNOPqrstu', []);
        assert.equal(out, `{"apiKey": "${REDACTED}"} Authorization: Bearer ${REDACTED}`);
    });

    it('finds a key with characters that JSON escapes', () => {
        const odd = 'ke"y\\with-quotes';
        assert.equal(redact(JSON.stringify({ token: odd }), [odd]).includes('with-quotes'), false);
    });

    it('ignores too-short secrets rather than shredding the log', () => {
        assert.equal(redact('a b c', ['a']), 'a b c');
    });

    it('redacts strings and error messages among log arguments', () => {
        const [text, err, num] = redactArgs([`key=${key}`, new Error(`bad key ${key}`), 3], [key]);
        assert.equal(text, `key=${REDACTED}`);
        assert.equal((err as Error).message, `bad key ${REDACTED}`);
        assert.equal(((err as Error).stack ?? '').includes(key), false);
        assert.equal(num, 3);
    });
});
