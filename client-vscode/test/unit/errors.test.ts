import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/common/args';
import { classifyError, describeFailure, isUnknownCommand, textOf } from '../../src/common/errors';

describe('classifyError', () => {
    it('spots a missing API key by its data.reason', () => {
        const error = { code: -32600, message: 'No API key: Baton talks to api.openai.com but no key is set.', data: { reason: 'missingApiKey' } };
        assert.deepEqual(classifyError(error), { kind: 'missingApiKey', message: error.message });
    });

    it('spots an untrusted workspace by its data.reason', () => {
        const error = {
            code: -32600,
            message: 'Baton: /p/baton.toml: `base_url` comes from the workspace, which you have not trusted. …',
            data: { reason: 'untrustedWorkspace', source: '/p/baton.toml', settings: ['base_url'] },
        };
        assert.deepEqual(classifyError(error), { kind: 'untrustedWorkspace', message: error.message });
    });

    it('spots a missing API key by its message when data is lost', () => {
        assert.equal(classifyError(new Error('API key missing for role planner')).kind, 'missingApiKey');
        assert.equal(classifyError(new Error('The API key was rejected (401)')).kind, 'other');
    });

    it("recognises pygls's unknown-command error for the command that was sent", () => {
        const pygls = { code: -32602, message: "Command name 'baton.parallelModules' is not defined" };
        assert.equal(isUnknownCommand(pygls, 'baton.parallelModules'), true);
        assert.equal(classifyError(pygls, 'baton.parallelModules').kind, 'unknownCommand');
        // The same error about another command is not about ours.
        assert.equal(isUnknownCommand(pygls, 'baton.triageFixValidate'), false);
        assert.equal(isUnknownCommand({ code: -32601, message: 'Unhandled method workspace/executeCommand' }), true);
    });

    it('does not take a validation error for an unknown command', () => {
        const invalid = { code: -32602, message: 'baton.parallelModules: `scopes`: Field required' };
        assert.equal(classifyError(invalid, 'baton.parallelModules').kind, 'other');
    });

    it('passes input errors through', () => {
        assert.deepEqual(classifyError(new InputError('The task is empty')), { kind: 'input', message: 'The task is empty' });
    });
});

describe('messages', () => {
    it('reads any thrown value', () => {
        assert.equal(textOf('plain'), 'plain');
        assert.equal(textOf({ message: 'from object' }), 'from object');
        assert.equal(textOf({ code: 1 }), '{"code":1}');
        assert.equal(textOf(undefined), 'unknown error');
    });

    it('names what failed and why', () => {
        assert.equal(describeFailure('Show runs', new Error('no store')), 'Baton: Show runs failed: no store');
        assert.equal(describeFailure('Show runs', new Error('  ')), 'Baton: Show runs failed: no reason given');
    });
});
