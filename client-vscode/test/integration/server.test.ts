/**
 * The extension's launch, settings and argument code against the real Baton server
 * (`python -m baton.server` from the project venv) and the scripted OpenAI-compatible server.
 *
 * While the server does not offer the commands yet this suite skips with the reason; with
 * CI=true it fails instead, so CI never passes on a server that is not there.
 */

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it, type TestContext } from 'node:test';
import { parseProposedContent, parseProposedFiles, parseRunId, parseRuns, planArgs, SERVER_COMMANDS } from '../../src/common/args';
import { classifyError } from '../../src/common/errors';
import { ARTIFACT_NOTIFICATION, EDIT_OUTCOME_NOTIFICATION, editOutcomeNotice, parseArtifact, parseEditOutcome } from '../../src/common/notices';
import { isTerminal } from '../../src/common/runs';
import { readSettings, toInitializationOptions, type InitializationOptions } from '../../src/common/settings';
import { CLIENT_ROOT, VENV_PYTHON } from '../paths';
import { ServerDidNotStart, startServer, type Harness } from './harness';

const CI = process.env.CI === 'true';
const REQUIRED = [SERVER_COMMANDS.planImplementReview, SERVER_COMMANDS.listRuns, SERVER_COMMANDS.proposedFiles, SERVER_COMMANDS.proposedContent];

/** Settings as VS Code would read them from settings.json, through the extension's own code. */
function optionsFor(values: Record<string, unknown>, apiKey?: string): InitializationOptions {
    const settings = readSettings({ get: <T>(k: string) => values[k] as T | undefined });
    assert.deepEqual(settings.problems, []);
    return toInitializationOptions(settings, apiKey);
}

/** An environment without any OpenAI key, so "missing key" is really missing. */
function envWithoutKey(): NodeJS.ProcessEnv {
    const env = { ...process.env };
    delete env.OPENAI_API_KEY;
    delete env.OPENAI_BASE_URL;
    return env;
}

function makeProject(): string {
    const root = mkdtempSync(path.join(os.tmpdir(), 'baton-vscode-it-'));
    mkdirSync(path.join(root, 'textkit'));
    writeFileSync(path.join(root, 'textkit', '__init__.py'), '');
    writeFileSync(path.join(root, 'textkit', 'stats.py'), 'def total(values):\n    return sum(values)\n');
    return root;
}

let skipReason: string | undefined;
const roots: string[] = [];
const harnesses: Harness[] = [];

async function open(t: TestContext, options: InitializationOptions, env?: NodeJS.ProcessEnv): Promise<{ h: Harness; root: string } | undefined> {
    if (skipReason !== undefined) {
        t.skip(skipReason);
        return undefined;
    }
    const root = makeProject();
    roots.push(root);
    const h = await startServer(VENV_PYTHON, root, options, env ?? envWithoutKey());
    harnesses.push(h);
    return { h, root };
}

before(async () => {
    let reason: string | undefined;
    if (!existsSync(VENV_PYTHON)) {
        reason = `no Python venv at ${VENV_PYTHON} (create it, or set BATON_PYTHON)`;
    } else {
        const root = makeProject();
        roots.push(root);
        try {
            const h = await startServer(VENV_PYTHON, root, optionsFor({}), envWithoutKey());
            const commands = h.initialize.capabilities.executeCommandProvider?.commands ?? [];
            const missing = REQUIRED.filter((c) => !commands.includes(c));
            if (missing.length > 0) {
                reason = `the Baton server does not offer ${missing.join(', ')} yet (it offers: ${commands.join(', ') || 'nothing'})`;
            }
            await h.close();
        } catch (error) {
            if (!(error instanceof ServerDidNotStart)) {
                throw error;
            }
            reason = `the Baton server does not start yet: ${error.message.split('\n').filter((l) => l.trim()).slice(-1)[0] ?? error.message}`;
        }
    }
    if (reason !== undefined && CI) {
        throw new Error(`CI=true and ${reason}`);
    }
    skipReason = reason;
});

after(async () => {
    await Promise.all(harnesses.map((h) => h.close()));
    for (const root of roots) {
        rmSync(root, { recursive: true, force: true });
    }
});

describe('the extension against the real Baton server', () => {
    it('starts with the extension’s initialization options and lists no runs in a new project', async (t) => {
        const opened = await open(t, optionsFor({ 'models.planner': 'some-model', confirmPlan: false }));
        if (!opened) {
            return;
        }
        const runs = parseRuns(await opened.h.execute(SERVER_COMMANDS.listRuns, { limit: 10 }));
        assert.deepEqual(runs, []);
    });

    it('answers a missing API key with reason missingApiKey, and writes nothing', async (t) => {
        const opened = await open(t, optionsFor({}));
        if (!opened) {
            return;
        }
        const before = readFileSync(path.join(opened.root, 'textkit', 'stats.py'), 'utf8');
        const args = planArgs('add a mean() helper', pathToFileURL(opened.root).toString());
        await assert.rejects(opened.h.execute(SERVER_COMMANDS.planImplementReview, args), (error: unknown) => {
            const classified = classifyError(error, SERVER_COMMANDS.planImplementReview);
            assert.equal(classified.kind, 'missingApiKey', classified.message);
            assert.match(classified.message, /API key/);
            return true;
        });
        assert.equal(readFileSync(path.join(opened.root, 'textkit', 'stats.py'), 'utf8'), before);
        assert.equal(opened.h.applyEdits.length, 0);
        assert.deepEqual(parseRuns(await opened.h.execute(SERVER_COMMANDS.listRuns, {})), []);
    });

    it('refuses an empty task server-side too (the client never sends one)', async (t) => {
        const opened = await open(t, optionsFor({}, 'test-key'));
        if (!opened) {
            return;
        }
        assert.throws(() => planArgs('   '), /task is empty/);
        await assert.rejects(opened.h.execute(SERVER_COMMANDS.planImplementReview, { task: '   ' }), /task/i);
        assert.equal(opened.h.updates.length, 0);
    });

    it('recognises the server’s answer to a command it does not have (the fallback trigger)', async (t) => {
        const opened = await open(t, optionsFor({}));
        if (!opened) {
            return;
        }
        await assert.rejects(opened.h.execute('baton.noSuchCommand', {}), (error: unknown) => {
            assert.equal(classifyError(error, 'baton.noSuchCommand').kind, 'unknownCommand', JSON.stringify(error));
            return true;
        });
    });

    it('runs plan → implement → review end to end against the scripted model, leaving the files to the editor', async (t) => {
        if (skipReason !== undefined) {
            t.skip(skipReason);
            return;
        }
        const llm = await startScriptedLlm(path.join(CLIENT_ROOT, 'test', 'fixtures', 'scripted-pir.json'));
        t.after(() => llm.process.kill());
        const options = optionsFor(
            {
                'models.planner': 'scripted-planner',
                'models.implementer': 'scripted-implementer',
                'models.reviewer': 'scripted-reviewer',
                baseUrl: llm.url,
                testCommand: `${VENV_PYTHON} -c "print('ok')"`,
                needsConfirmation: true,
            },
            'test-key',
        );
        const opened = await open(t, options);
        if (!opened) {
            return;
        }
        const { h, root } = opened;
        const statsPath = path.join(root, 'textkit', 'stats.py');
        const before = readFileSync(statsPath, 'utf8');
        const runId = parseRunId(
            SERVER_COMMANDS.planImplementReview,
            await h.execute(SERVER_COMMANDS.planImplementReview, planArgs('add a mean() helper', pathToFileURL(path.join(root, 'textkit')).toString())),
        );
        const final = await h.waitFor('a final baton/runUpdate', () => h.updates.find((u) => u.runId === runId && isTerminal(u.status)));
        assert.equal(final.status, 'succeeded', `${final.message ?? ''}\n${h.stderr().slice(-3000)}`);

        // The edit goes to the editor as one workspace/applyEdit needing confirmation; declined here.
        const edit = await h.waitFor('workspace/applyEdit', () => h.applyEdits[0]);
        const annotations = Object.values(edit.edit.changeAnnotations ?? {});
        assert.ok(annotations.length > 0 && annotations.every((a) => a.needsConfirmation === true), JSON.stringify(edit.edit));
        assert.ok((edit.edit.documentChanges ?? []).length > 0);
        assert.equal(readFileSync(statsPath, 'utf8'), before, 'declining the edit must leave the file as it was');
        // One signal per event: the extension opens plan.md/review.md from baton/artifact and shows
        // the declined edit from baton/editOutcome; the server shows no document, message or progress.
        const artifacts = h.notes.filter((n) => n.method === ARTIFACT_NOTIFICATION).map((n) => parseArtifact(n.params)?.name);
        assert.deepEqual(artifacts, ['plan.md', 'review.md']);
        const outcome = parseEditOutcome((await h.waitFor('baton/editOutcome', () => h.notes.find((n) => n.method === EDIT_OUTCOME_NOTIFICATION))).params);
        assert.ok(outcome !== undefined && outcome.declined && !outcome.applied, JSON.stringify(outcome));
        const notice = editOutcomeNotice(outcome);
        assert.equal(notice.severity, 'info');
        assert.ok(notice.actions.includes('Apply again'));
        assert.deepEqual(h.shownDocuments, []);
        assert.deepEqual(h.progress, []);
        assert.ok(!h.logs.some((m) => m.startsWith('Baton “')), `no showMessage for the run: ${JSON.stringify(h.logs)}`);

        // What "Show proposed diff" reads.
        const files = parseProposedFiles(await h.execute(SERVER_COMMANDS.proposedFiles, { runId }));
        const stats = files.find((f) => f.uri.endsWith('textkit/stats.py'));
        assert.ok(stats, JSON.stringify(files));
        const text = parseProposedContent(await h.execute(SERVER_COMMANDS.proposedContent, { runId, uri: stats.uri }));
        assert.match(text ?? '', /def mean\(values\)/);

        const runs = parseRuns(await h.execute(SERVER_COMMANDS.listRuns, { limit: 5 }));
        assert.equal(runs[0]?.runId, runId);
        assert.equal(runs[0]?.verdict, 'approved');
    });
});

async function startScriptedLlm(script: string): Promise<{ url: string; process: ChildProcess }> {
    const child = spawn(VENV_PYTHON, ['-m', 'baton.pipelines.cli', 'scripted-llm', '--script', script, '--port', '0'], {
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`scripted-llm did not print its URL:\n${out}\n${err}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            const match = /on (http:\/\/\S+\/v1)/.exec(out);
            if (match) {
                clearTimeout(timer);
                resolve({ url: match[1], process: child });
            }
        });
        child.on('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`scripted-llm exited with ${code}:\n${err}`));
        });
    });
}
