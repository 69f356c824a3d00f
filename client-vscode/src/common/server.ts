/**
 * Owns the Baton language server: finds the interpreter, checks Baton is installed, starts
 * `<python> -m baton.server` through vscode-languageclient, pushes settings and the API key,
 * restarts on interpreter changes (debounced) and after crashes (a few times, then says so).
 */

import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
    CloseAction,
    DidChangeConfigurationNotification,
    ErrorAction,
    ExecuteCommandRequest,
    LanguageClient,
    ResponseError,
    RevealOutputChannelOn,
    State,
    type LanguageClientOptions,
    type ServerOptions,
} from 'vscode-languageclient/node';
import type { ApiKeyStore } from './apiKey';
import { RestartPolicy, serverExecutable } from './launch';
import type { BatonLog } from './log';
import {
    checkServer,
    describeSource,
    discoverInterpreter,
    interpreterFromPythonExtension,
    pythonExtensionApi,
    type Interpreter,
    type PythonExtensionApi,
} from './python';
import { parseRunUpdate, RUN_UPDATE_NOTIFICATION, type RunTracker } from './runs';
import {
    didChangeConfigurationPayload,
    expandInterpreterPath,
    readSettings,
    RESTART_SETTINGS,
    toInitializationOptions,
    type InitializationOptions,
} from './settings';
import { reportCheckFailure, reportNoInterpreter } from './setup';
import { ARTIFACT_NOTIFICATION, EDIT_OUTCOME_NOTIFICATION } from './notices';
import { BatonCapabilitiesFeature, leveledStderr, onArtifact, showEditOutcome, stdoutAsInfo } from './notifications';
import { paletteContext } from './palette';

const DEBOUNCE_MS = 400;

/** Thrown by {@link ServerManager.execute} when there is no server; the user was already told why. */
export class ServerUnavailable extends Error {
    constructor() {
        super('The Baton server is not running.');
        this.name = 'ServerUnavailable';
    }
}

export function primaryFolder(): vscode.WorkspaceFolder | undefined {
    const active = vscode.window.activeTextEditor?.document.uri;
    return (active && vscode.workspace.getWorkspaceFolder(active)) ?? vscode.workspace.workspaceFolders?.[0];
}

export class ServerManager implements vscode.Disposable {
    private client: LanguageClient | undefined;
    private starting: Promise<LanguageClient | undefined> | undefined;
    private inOwnStart = false;
    private restartTimer: NodeJS.Timeout | undefined;
    private configTimer: NodeJS.Timeout | undefined;
    private readonly policy = new RestartPolicy();
    private readonly disposables: vscode.Disposable[] = [];
    private pythonWatch: { dispose(): unknown } | undefined;
    private interpreter: Interpreter | undefined;
    private serverCommands: string[] | undefined;
    /** The options the server has now (initialization or the last change), to skip repeats. */
    private lastSent: string | undefined;

    constructor(
        private readonly log: BatonLog,
        private readonly apiKey: ApiKeyStore,
        private readonly tracker: RunTracker,
    ) {
        this.log.setTrace(readSettings(this.config()).trace);
        this.disposables.push(
            vscode.workspace.onDidChangeConfiguration((e) => {
                if (e.affectsConfiguration('baton.trace.server')) {
                    this.log.setTrace(readSettings(this.config()).trace);
                }
                if (RESTART_SETTINGS.some((s) => e.affectsConfiguration(s))) {
                    this.scheduleRestart('baton.interpreter changed');
                } else if (e.affectsConfiguration('baton')) {
                    this.scheduleSettingsPush();
                }
            }),
            this.apiKey.onDidChange(() => this.scheduleSettingsPush()),
            // Trusting the workspace lets its baton.toml choose the endpoint and test command.
            vscode.workspace.onDidGrantWorkspaceTrust(() => this.scheduleSettingsPush()),
        );
    }

    private config(): vscode.WorkspaceConfiguration {
        return vscode.workspace.getConfiguration('baton', primaryFolder()?.uri);
    }

    /** Current options for the server, with the key from SecretStorage; problems go to the log. */
    async options(): Promise<InitializationOptions> {
        const settings = readSettings(this.config());
        settings.problems.forEach((p) => this.log.warn(p));
        const folder = primaryFolder();
        if (settings.python !== undefined) {
            settings.python = expandInterpreterPath(settings.python, folder?.uri.fsPath, os.homedir(), path.sep);
        }
        // The project's interpreter for its tests: the user's baton.python, else the Python
        // extension's choice for the folder (only in a trusted workspace: it runs project code).
        const projectPython = settings.python === undefined && vscode.workspace.isTrusted ? await this.projectPython(folder) : undefined;
        const key = await this.apiKey.get();
        this.log.setSecrets([key]);
        return toInitializationOptions(settings, key, vscode.workspace.isTrusted, projectPython);
    }

    /** The Python extension's API, watched once: a new selected interpreter re-sends the settings
     *  (and restarts the server when it also runs Baton itself). */
    private async pythonApi(): Promise<PythonExtensionApi | undefined> {
        const api = await pythonExtensionApi(vscode.extensions);
        if (api !== undefined && this.pythonWatch === undefined && api.environments.onDidChangeActiveEnvironmentPath) {
            this.pythonWatch = api.environments.onDidChangeActiveEnvironmentPath(() => {
                if (readSettings(this.config()).interpreter === '') {
                    this.scheduleRestart("the Python extension's interpreter changed");
                } else {
                    this.scheduleSettingsPush();
                }
            });
        }
        return api;
    }

    private async projectPython(folder: vscode.WorkspaceFolder | undefined): Promise<string | undefined> {
        try {
            return await interpreterFromPythonExtension(await this.pythonApi(), folder?.uri);
        } catch (error) {
            this.log.warn(`The Python extension did not say which interpreter the project uses: ${(error as Error).message}`);
            return undefined;
        }
    }

    get isRunning(): boolean {
        return this.client?.state === State.Running;
    }

    /** True/false when the running server advertised its commands; undefined when unknown. */
    supportsCommand(command: string): boolean | undefined {
        return this.serverCommands === undefined ? undefined : this.serverCommands.includes(command);
    }

    /** The running client, starting the server if needed; undefined after telling the user why not. */
    async ensureClient(): Promise<LanguageClient | undefined> {
        if (this.client?.state === State.Running) {
            return this.client;
        }
        if (this.starting === undefined && this.client?.state === State.Starting) {
            // The client is restarting a crashed server by itself: wait for the outcome.
            const client = this.client;
            await new Promise<void>((resolve) => {
                const sub = client.onDidChangeState((e) => {
                    if (e.newState !== State.Starting) {
                        sub.dispose();
                        resolve();
                    }
                });
            });
            if (client.state === State.Running) {
                return client;
            }
        }
        if (this.starting === undefined && this.client !== undefined) {
            // A server that stopped for good (crashes, or stopped while starting): start afresh.
            await this.stop();
        }
        if (this.starting === undefined) {
            this.starting = this.start().finally(() => {
                this.starting = undefined;
            });
        }
        return this.starting;
    }

    /** Sends `workspace/executeCommand` with one argument object; JSON-RPC errors are thrown as they are. */
    async execute(command: string, argument: object): Promise<unknown> {
        const client = await this.ensureClient();
        if (client === undefined) {
            throw new ServerUnavailable();
        }
        return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument] });
    }

    async restart(reason: string): Promise<LanguageClient | undefined> {
        this.log.info(`Restarting the server: ${reason}`);
        if (this.starting !== undefined) {
            await this.starting; // never stop a client half-way through its start
        }
        await this.stop();
        this.policy.reset();
        return this.ensureClient();
    }

    scheduleRestart(reason: string): void {
        clearTimeout(this.restartTimer);
        this.restartTimer = setTimeout(() => {
            if (this.client !== undefined || this.starting !== undefined) {
                void this.restart(reason);
            }
        }, DEBOUNCE_MS);
    }

    private scheduleSettingsPush(): void {
        clearTimeout(this.configTimer);
        this.configTimer = setTimeout(() => void this.pushSettings(), DEBOUNCE_MS);
    }

    /** `workspace/didChangeConfiguration` with the contract's `{settings: {baton: ...}}`. */
    async pushSettings(): Promise<void> {
        if (this.starting !== undefined) {
            // A change during start-up may have missed the initialization options: send it after.
            await this.starting;
        }
        if (this.client?.state !== State.Running) {
            return;
        }
        const options = await this.options();
        const serialized = JSON.stringify(options);
        if (serialized === this.lastSent) {
            return;
        }
        this.lastSent = serialized;
        await this.client.sendNotification(DidChangeConfigurationNotification.type, didChangeConfigurationPayload(options));
        this.log.info('Sent changed settings to the server.');
    }

    private async findInterpreter(folder: vscode.WorkspaceFolder | undefined): Promise<Interpreter | undefined> {
        const settings = readSettings(this.config());
        const setting = expandInterpreterPath(settings.interpreter, folder?.uri.fsPath, os.homedir(), path.sep);
        return discoverInterpreter({
            setting,
            envPath: process.env.PATH,
            fromPythonExtension: async () => interpreterFromPythonExtension(await this.pythonApi(), folder?.uri),
        });
    }

    private async start(installed = false): Promise<LanguageClient | undefined> {
        const folder = primaryFolder();
        const interpreter = await this.findInterpreter(folder);
        if (interpreter === undefined) {
            await reportNoInterpreter(this.log);
            return undefined;
        }
        this.interpreter = interpreter;
        this.log.info(`Using Python ${interpreter.path} (from ${describeSource(interpreter.source)}).`);
        const check = await checkServer(interpreter.path, folder?.uri.fsPath);
        if (!check.ok) {
            if (!installed && (await reportCheckFailure(interpreter, check, this.log))) {
                return this.start(true);
            }
            return undefined;
        }
        this.log.info(`Server check passed: baton-lsp ${check.version} in ${interpreter.path}.`);
        const initOptions = await this.options();
        this.lastSent = JSON.stringify(initOptions);
        const client = this.createClient(interpreter, folder, initOptions);
        this.client = client;
        this.inOwnStart = true;
        try {
            await client.start();
        } catch (error) {
            this.log.error('The Baton server failed to start', error);
            this.client = undefined;
            client.dispose(1000).catch(() => undefined);
            void this.reportStartFailure(interpreter);
            return undefined;
        } finally {
            this.inOwnStart = false;
        }
        const commands = client.initializeResult?.capabilities.executeCommandProvider?.commands;
        this.serverCommands = Array.isArray(commands) ? commands : undefined;
        this.log.info(`Server running; commands: ${this.serverCommands?.join(', ') ?? 'not advertised'}.`);
        this.setPaletteContext(this.serverCommands);
        // Settings or the key may have changed while the server was starting.
        this.scheduleSettingsPush();
        return client;
    }

    private createClient(interpreter: Interpreter, folder: vscode.WorkspaceFolder | undefined, initOptions: InitializationOptions): LanguageClient {
        const executable = serverExecutable(interpreter.path, folder?.uri.fsPath, process.env);
        const serverOptions: ServerOptions = { run: executable, debug: executable };
        const clientOptions: LanguageClientOptions = {
            // All files: the server snapshots open buffers (text + version) for its edits.
            documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
            outputChannel: this.log.channel,
            traceOutputChannel: this.log.channel,
            // stderr lines under their own level (INFO is not an error); stdout is the protocol.
            stdioOptions: { stdout: stdoutAsInfo, stderr: leveledStderr },
            revealOutputChannelOn: RevealOutputChannelOn.Never,
            initializationOptions: initOptions,
            initializationFailedHandler: () => false,
            middleware: {
                workspace: {
                    // A server asking workspace/configuration for "baton" gets the same shape as the options.
                    configuration: async (params, token, next) => {
                        const answer = await next(params, token);
                        if (answer instanceof ResponseError) {
                            return answer;
                        }
                        const values: unknown[] = answer;
                        const options = await this.options();
                        return params.items.map((item, i): unknown => (item.section === 'baton' ? options : values[i]));
                    },
                },
            },
            errorHandler: {
                error: (_error, _message, count) => ({
                    action: count !== undefined && count <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown,
                    handled: true,
                }),
                closed: () => this.onServerClosed(),
            },
        };
        const client = new LanguageClient('baton', 'Baton', serverOptions, clientOptions);
        client.registerFeature(new BatonCapabilitiesFeature());
        const warn = (m: string) => this.log.warn(m);
        client.onNotification(EDIT_OUTCOME_NOTIFICATION, (params: unknown) => void showEditOutcome(params, warn));
        client.onNotification(ARTIFACT_NOTIFICATION, (params: unknown) => {
            onArtifact(params, warn).catch((error: unknown) => this.log.error('Opening a run document failed', error));
        });
        client.onNotification(RUN_UPDATE_NOTIFICATION, (params: unknown) => {
            const update = parseRunUpdate(params);
            if (update === undefined) {
                this.log.warn(`Ignored a malformed ${RUN_UPDATE_NOTIFICATION}: ${JSON.stringify(params)}`);
                return;
            }
            this.tracker.update(update);
        });
        client.onDidChangeState((e) => {
            if (e.newState === State.Stopped) {
                this.tracker.serverStopped();
            }
        });
        return client;
    }

    private onServerClosed(): { action: CloseAction; handled: boolean } {
        if (this.inOwnStart) {
            // start() reports this itself, with the log.
            return { action: CloseAction.DoNotRestart, handled: true };
        }
        this.tracker.serverStopped();
        if (this.policy.shouldRestart()) {
            this.log.warn(`The Baton server stopped unexpectedly; restarting it (${this.policy.recentCrashes} of 3).`);
            return { action: CloseAction.Restart, handled: true };
        }
        const message =
            `Baton: the server crashed ${this.policy.recentCrashes} times in 3 minutes and was not restarted. ` +
            'See the Baton output for the error, then run "Baton: Restart server".';
        this.log.error(message);
        void this.offerLog(message, true);
        return { action: CloseAction.DoNotRestart, handled: true };
    }

    private async reportStartFailure(interpreter: Interpreter): Promise<void> {
        await this.offerLog(
            `Baton: the server (${interpreter.path} -m baton.server) stopped while starting. ` +
                'The Baton output has its error; fix it, then run "Baton: Restart server".',
            true,
        );
    }

    private async offerLog(message: string, withRestart: boolean): Promise<void> {
        const choice = await vscode.window.showErrorMessage(message, 'Show log', ...(withRestart ? ['Restart server'] : []));
        if (choice === 'Show log') {
            this.log.show();
        } else if (choice === 'Restart server') {
            await this.restart('requested after a failure');
        }
    }

    /** Context keys that hide palette entries whose server command this server does not offer. */
    private setPaletteContext(commands: readonly string[] | undefined): void {
        for (const [key, value] of Object.entries(paletteContext(commands))) {
            void vscode.commands.executeCommand('setContext', key, value);
        }
    }

    async stop(): Promise<void> {
        const client = this.client;
        this.client = undefined;
        this.serverCommands = undefined;
        this.setPaletteContext(undefined);
        if (client === undefined) {
            return;
        }
        try {
            // dispose() = stop(): shutdown/exit, then the process is killed if it lingers.
            await client.dispose(5000);
        } catch (error) {
            this.log.warn(`Stopping the server: ${(error as Error).message}`);
        }
    }

    /** The interpreter of the current or last server start. */
    get interpreterPath(): string | undefined {
        return this.interpreter?.path;
    }

    dispose(): void {
        clearTimeout(this.restartTimer);
        clearTimeout(this.configTimer);
        this.pythonWatch?.dispose();
        for (const d of this.disposables) {
            d.dispose();
        }
        void this.stop();
    }
}
