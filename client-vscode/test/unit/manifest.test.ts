import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { SERVER_COMMANDS } from '../../src/common/args';
import { CLIENT_COMMANDS } from '../../src/common/ids';
import { NEEDS, paletteContext, paletteWhen } from '../../src/common/palette';
import { readSettings } from '../../src/common/settings';
import { CLIENT_ROOT } from '../paths';

interface Manifest {
    version: string;
    main: string;
    engines: { vscode: string };
    activationEvents?: string[];
    devDependencies: Record<string, string>;
    contributes: {
        commands: { command: string; title: string; category?: string }[];
        menus: Record<string, { command: string; when?: string }[]>;
        configuration: { properties: Record<string, { type: string | string[]; default?: unknown; enum?: string[] }> };
    };
}

const manifest = JSON.parse(readFileSync(path.join(CLIENT_ROOT, 'package.json'), 'utf8')) as Manifest;

function minor(version: string): number {
    const match = /(\d+)\.(\d+)/.exec(version);
    assert.ok(match, `no version in ${version}`);
    return Number(match[1]) * 1000 + Number(match[2]);
}

describe('package.json', () => {
    it('contributes exactly the commands the extension registers, all in category Baton', () => {
        const contributed = manifest.contributes.commands.map((c) => c.command).sort();
        assert.deepEqual(contributed, Object.values(CLIENT_COMMANDS).sort());
        for (const c of manifest.contributes.commands) {
            assert.equal(c.category, 'Baton', c.command);
        }
    });

    it('never reuses a server command id (the language client registers those itself)', () => {
        const server = new Set<string>(Object.values(SERVER_COMMANDS));
        for (const id of Object.values(CLIENT_COMMANDS)) {
            assert.equal(server.has(id), false, id);
        }
    });

    it('has menu entries only for contributed commands, incl. the Explorer and editor title', () => {
        const known = new Set(manifest.contributes.commands.map((c) => c.command));
        for (const [menu, entries] of Object.entries(manifest.contributes.menus)) {
            for (const entry of entries) {
                assert.ok(known.has(entry.command), `${menu}: ${entry.command}`);
            }
        }
        assert.ok(manifest.contributes.menus['explorer/context'].some((e) => e.command === CLIENT_COMMANDS.runOnModule));
        assert.ok(manifest.contributes.menus['editor/title'].some((e) => e.command === CLIENT_COMMANDS.runOnModule));
    });

    it('hides every command whose server command the running server lacks, in every menu', () => {
        for (const [menu, entries] of Object.entries(manifest.contributes.menus)) {
            for (const entry of entries) {
                const when = paletteWhen(entry.command);
                if (when !== undefined) {
                    assert.ok(entry.when?.includes(when), `${menu}: ${entry.command} needs "${when}" (has "${entry.when ?? ''}")`);
                }
            }
        }
        const palette = manifest.contributes.menus.commandPalette.map((e) => e.command);
        for (const command of Object.keys(NEEDS)) {
            assert.ok(palette.includes(command), `${command} has no commandPalette entry`);
        }
        // No server yet: nothing hidden. A server without triage: only the triage commands hidden.
        assert.ok(Object.values(paletteContext(undefined)).every((v) => v === false));
        const offered = Object.values(SERVER_COMMANDS).filter((c) => c !== SERVER_COMMANDS.triageFixValidate);
        const hidden = Object.entries(paletteContext(offered)).filter(([, v]) => v).map(([k]) => k);
        assert.deepEqual(hidden, ['baton.lacks.triageFixValidate']);
    });

    it('keeps the Explorer out of .baton/ when a run document opens', () => {
        const defaults = (manifest.contributes as unknown as { configurationDefaults?: Record<string, Record<string, boolean>> }).configurationDefaults;
        assert.equal(defaults?.['explorer.autoRevealExclude']?.['**/.baton'], true);
    });

    it('declares no API key setting (it lives in SecretStorage)', () => {
        for (const key of Object.keys(manifest.contributes.configuration.properties)) {
            assert.doesNotMatch(key, /key|secret|token/i);
        }
    });

    it('reads every contributed setting: each one changes what readSettings returns', () => {
        const base = JSON.stringify(readSettings({ get: () => undefined }));
        for (const [key, spec] of Object.entries(manifest.contributes.configuration.properties)) {
            const short = key.replace(/^baton\./, '');
            const type = Array.isArray(spec.type) ? spec.type[0] : spec.type;
            const value =
                spec.enum !== undefined ? spec.enum.find((v) => v !== spec.default)
                : type === 'boolean' ? !(spec.default as boolean)
                : type === 'integer' || type === 'number' ? 4
                : key === 'baton.baseUrl' ? 'http://127.0.0.1:1/v1'
                : 'something';
            const read = JSON.stringify(readSettings({ get: <T>(k: string) => (k === short ? (value as T) : undefined) }));
            assert.notEqual(read, base, `${key} is contributed but not read`);
        }
    });

    it('installs in code-server 4.100 (engines ≤ 1.100, @types/vscode not newer than engines)', () => {
        assert.ok(minor(manifest.engines.vscode) <= minor('1.100'), manifest.engines.vscode);
        assert.ok(minor(manifest.devDependencies['@types/vscode']) <= minor(manifest.engines.vscode));
    });

    it('activates lazily and runs the bundle', () => {
        for (const event of manifest.activationEvents ?? []) {
            assert.notEqual(event, '*');
            assert.notEqual(event, 'onStartupFinished');
        }
        assert.equal(manifest.main, './dist/extension.js');
    });

    it('has a lock file for the same version', () => {
        const lock = JSON.parse(readFileSync(path.join(CLIENT_ROOT, 'package-lock.json'), 'utf8')) as { version: string };
        assert.equal(lock.version, manifest.version);
    });
});
