/**
 * Reads the `baton.*` settings and turns them into the server's initialization options.
 *
 * Pure: it sees configuration through {@link ConfigLike}, so unit tests run without VS Code.
 * The API key is never a setting; it arrives from SecretStorage and is merged in here.
 */

export const ROLES = ['planner', 'implementer', 'reviewer', 'triager', 'decomposer'] as const;
export type Role = (typeof ROLES)[number];

/** The part of `vscode.WorkspaceConfiguration` this module needs. */
export interface ConfigLike {
    get<T>(section: string): T | undefined;
}

export type TraceSetting = 'off' | 'messages' | 'verbose';
export const SANDBOXES = ['auto', 'bwrap', 'sandbox-exec', 'none'] as const;
export type SandboxSetting = (typeof SANDBOXES)[number];

export interface BatonSettings {
    interpreter: string;
    models: Partial<Record<Role, string>>;
    baseUrl?: string;
    testCommand?: string;
    needsConfirmation: boolean;
    confirmPlan: boolean;
    concurrency?: number;
    parallelConcurrency?: number;
    /** `baton.python`: the project's interpreter for the detected test command, set by the user. */
    python?: string;
    sandbox?: SandboxSetting;
    sandboxNetwork?: boolean;
    testEnv?: string[];
    recordSessions: boolean;
    trace: TraceSetting;
    /** Settings whose values were wrong and were ignored: shown once in the log. */
    problems: string[];
}

/** What the server receives in `initializationOptions` and `{settings: {baton: ...}}`. */
export interface InitializationOptions {
    models: Partial<Record<Role, string>>;
    baseUrl?: string;
    apiKey?: string;
    testCommand?: string;
    needsConfirmation?: boolean;
    confirmPlan?: boolean;
    concurrency?: number;
    parallelConcurrency?: number;
    /** The project's interpreter for a detected test command: `baton.python`, else the Python extension's choice. */
    python?: string;
    sandbox?: SandboxSetting;
    sandboxNetwork?: boolean;
    testEnv?: string[];
    /**
     * Whether VS Code trusts the workspace (Workspace Trust). Until it does, the server refuses
     * the repository's baton.toml settings that send the key or run a command; VS Code itself
     * hides the workspace values of `baton.baseUrl`, `baton.testCommand` and `baton.interpreter`
     * (`restrictedConfigurations` in package.json), so only the user's own values arrive here.
     */
    workspaceTrusted?: boolean;
    recordSessions?: boolean;
}

/** Settings that change the server process itself: a change restarts it. */
export const RESTART_SETTINGS = ['baton.interpreter'] as const;

function text(config: ConfigLike, key: string, problems: string[]): string | undefined {
    const value = config.get<unknown>(key);
    if (value === undefined || value === null) {
        return undefined;
    }
    if (typeof value !== 'string') {
        problems.push(`baton.${key} must be a string (got ${JSON.stringify(value)}); ignored`);
        return undefined;
    }
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
}

function flag(config: ConfigLike, key: string, fallback: boolean, problems: string[]): boolean {
    const value = config.get<unknown>(key);
    if (value === undefined || value === null) {
        return fallback;
    }
    if (typeof value !== 'boolean') {
        problems.push(`baton.${key} must be true or false (got ${JSON.stringify(value)}); using ${fallback}`);
        return fallback;
    }
    return value;
}

function wholeNumber(config: ConfigLike, key: string, max: number, problems: string[]): number | undefined {
    const value = config.get<unknown>(key);
    if (value === undefined || value === null) {
        return undefined;
    }
    if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= max) {
        return value;
    }
    problems.push(`baton.${key} must be a whole number from 1 to ${max} (got ${JSON.stringify(value)}); ignored`);
    return undefined;
}

function optionalFlag(config: ConfigLike, key: string, problems: string[]): boolean | undefined {
    const value = config.get<unknown>(key);
    if (value === undefined || value === null) {
        return undefined;
    }
    if (typeof value !== 'boolean') {
        problems.push(`baton.${key} must be true or false (got ${JSON.stringify(value)}); ignored`);
        return undefined;
    }
    return value;
}

function sandbox(config: ConfigLike, problems: string[]): SandboxSetting | undefined {
    const value = config.get<unknown>('sandbox');
    if (value === undefined || value === null || value === '') {
        return undefined;
    }
    if (typeof value === 'string' && (SANDBOXES as readonly string[]).includes(value)) {
        return value as SandboxSetting;
    }
    problems.push(`baton.sandbox must be one of ${SANDBOXES.join(', ')} (got ${JSON.stringify(value)}); ignored`);
    return undefined;
}

/** `baton.testEnv`: names of environment variables passed to the tests (checked again by the server). */
function testEnv(config: ConfigLike, problems: string[]): string[] | undefined {
    const value = config.get<unknown>('testEnv');
    if (value === undefined || value === null) {
        return undefined;
    }
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(v))) {
        problems.push(`baton.testEnv must be a list of environment variable names such as ["DATABASE_URL"] (got ${JSON.stringify(value)}); ignored`);
        return undefined;
    }
    return value.length === 0 ? undefined : (value as string[]);
}

/** Reads `baton.*` (a `workspace.getConfiguration('baton')`); a wrong value is reported, never fatal. */
export function readSettings(config: ConfigLike): BatonSettings {
    const problems: string[] = [];
    const models: Partial<Record<Role, string>> = {};
    for (const role of ROLES) {
        const model = text(config, `models.${role}`, problems);
        if (model !== undefined) {
            models[role] = model;
        }
    }
    const baseUrl = text(config, 'baseUrl', problems);
    if (baseUrl !== undefined && !/^https?:\/\/[^\s/]+/i.test(baseUrl)) {
        problems.push(`baton.baseUrl must be an http(s) URL such as http://localhost:11434/v1 (got "${baseUrl}"); ignored`);
    }
    const concurrency = wholeNumber(config, 'concurrency', 64, problems);
    const parallelConcurrency = wholeNumber(config, 'parallelConcurrency', 256, problems);
    const rawTrace = config.get<unknown>('trace.server');
    let trace: TraceSetting = 'off';
    if (rawTrace === 'messages' || rawTrace === 'verbose' || rawTrace === 'off') {
        trace = rawTrace;
    } else if (rawTrace !== undefined && rawTrace !== null) {
        problems.push(`baton.trace.server must be "off", "messages" or "verbose" (got ${JSON.stringify(rawTrace)}); using "off"`);
    }
    return {
        interpreter: text(config, 'interpreter', problems) ?? '',
        models,
        baseUrl: baseUrl !== undefined && /^https?:\/\/[^\s/]+/i.test(baseUrl) ? baseUrl : undefined,
        testCommand: text(config, 'testCommand', problems),
        needsConfirmation: flag(config, 'needsConfirmation', true, problems),
        confirmPlan: flag(config, 'confirmPlan', false, problems),
        concurrency,
        parallelConcurrency,
        python: text(config, 'python', problems),
        sandbox: sandbox(config, problems),
        sandboxNetwork: optionalFlag(config, 'sandboxNetwork', problems),
        testEnv: testEnv(config, problems),
        recordSessions: flag(config, 'recordSessions', false, problems),
        trace,
        problems,
    };
}

/**
 * Builds the server's options: unset keys are omitted, the key only comes from `apiKey`.
 * `projectPython` (the Python extension's interpreter for the folder) becomes `python` unless the
 * user set `baton.python`.
 */
export function toInitializationOptions(
    settings: BatonSettings,
    apiKey?: string,
    workspaceTrusted?: boolean,
    projectPython?: string,
): InitializationOptions {
    const options: InitializationOptions = { models: { ...settings.models } };
    if (workspaceTrusted !== undefined) {
        options.workspaceTrusted = workspaceTrusted;
    }
    if (settings.baseUrl !== undefined) {
        options.baseUrl = settings.baseUrl;
    }
    const key = apiKey?.trim();
    if (key) {
        options.apiKey = key;
    }
    if (settings.testCommand !== undefined) {
        options.testCommand = settings.testCommand;
    }
    options.needsConfirmation = settings.needsConfirmation;
    options.confirmPlan = settings.confirmPlan;
    if (settings.concurrency !== undefined) {
        options.concurrency = settings.concurrency;
    }
    if (settings.parallelConcurrency !== undefined) {
        options.parallelConcurrency = settings.parallelConcurrency;
    }
    const python = settings.python ?? (projectPython?.trim() || undefined);
    if (python !== undefined) {
        options.python = python;
    }
    if (settings.sandbox !== undefined) {
        options.sandbox = settings.sandbox;
    }
    if (settings.sandboxNetwork !== undefined) {
        options.sandboxNetwork = settings.sandboxNetwork;
    }
    if (settings.testEnv !== undefined) {
        options.testEnv = [...settings.testEnv];
    }
    if (settings.recordSessions) {
        options.recordSessions = true;
    }
    return options;
}

/** The payload of `workspace/didChangeConfiguration`. */
export function didChangeConfigurationPayload(options: InitializationOptions): { settings: { baton: InitializationOptions } } {
    return { settings: { baton: options } };
}

/**
 * Expands `~`, `${workspaceFolder}` and `${userHome}` in `baton.interpreter`; a relative path is
 * taken relative to the workspace folder, so `.venv/bin/python` works in settings.json.
 */
export function expandInterpreterPath(raw: string, workspaceFolder: string | undefined, home: string, sep = '/'): string {
    let value = raw.trim();
    if (value === '') {
        return '';
    }
    value = value.replace(/\$\{userHome\}/g, home);
    if (workspaceFolder !== undefined) {
        value = value.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
    }
    if (value === '~' || value.startsWith('~/') || value.startsWith('~\\')) {
        value = home + value.slice(1);
    }
    const absolute = value.startsWith('/') || value.startsWith('\\') || /^[a-zA-Z]:[\\/]/.test(value);
    const hasSeparator = value.includes('/') || value.includes('\\');
    if (!absolute && hasSeparator && workspaceFolder !== undefined) {
        value = workspaceFolder.replace(/[\\/]+$/, '') + sep + value.replace(/^\.[\\/]/, '');
    }
    return value;
}
