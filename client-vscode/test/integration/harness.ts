/**
 * A protocol-level stand-in for VS Code that talks to the real `python -m baton.server` over stdio.
 *
 * Why not vscode-languageclient itself: `vscode-languageclient/node` requires the `vscode` module
 * at load time and drives dozens of editor APIs (output channels, command registry, documents),
 * so outside VS Code it only runs against a large fake editor. Instead this harness uses
 * `vscode-languageserver-protocol` (the layer vscode-languageclient is built on) with the
 * extension's own launch, settings and argument code, and answers the server's requests the way
 * VS Code does. The real language-client path is covered by the code-server e2e test.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import {
    ApplyWorkspaceEditRequest,
    ConfigurationRequest,
    createProtocolConnection,
    ExecuteCommandRequest,
    ExitNotification,
    InitializedNotification,
    InitializeRequest,
    LogMessageNotification,
    PublishDiagnosticsNotification,
    ShowDocumentRequest,
    ShowMessageNotification,
    ShutdownRequest,
    StreamMessageReader,
    StreamMessageWriter,
    WorkDoneProgress,
    WorkDoneProgressCreateRequest,
    type ApplyWorkspaceEditParams,
    type InitializeResult,
    type ProtocolConnection,
    type PublishDiagnosticsParams,
    type ShowDocumentParams,
} from 'vscode-languageserver-protocol/node';
import { serverExecutable } from '../../src/common/launch';
import { ARTIFACT_NOTIFICATION, EDIT_OUTCOME_NOTIFICATION, withBatonCapabilities } from '../../src/common/notices';
import { parseRunUpdate, RUN_UPDATE_NOTIFICATION, type RunUpdate } from '../../src/common/runs';
import type { InitializationOptions } from '../../src/common/settings';

export interface Harness {
    connection: ProtocolConnection;
    process: ChildProcess;
    initialize: InitializeResult;
    stderr: () => string;
    applyEdits: ApplyWorkspaceEditParams[];
    shownDocuments: ShowDocumentParams[];
    updates: RunUpdate[];
    diagnostics: PublishDiagnosticsParams[];
    logs: string[];
    /** `$/progress` values (begin/report/end) in arrival order. */
    progress: unknown[];
    /** `baton/editOutcome` and `baton/artifact` payloads, as they came. */
    notes: { method: string; params: unknown }[];
    /** How the harness answers workspace/applyEdit (VS Code: the Refactor Preview's Apply/Discard). */
    applyAnswer: { applied: boolean };
    execute(command: string, argument: object): Promise<unknown>;
    waitFor<T>(what: string, probe: () => T | undefined, timeoutMs?: number): Promise<T>;
    close(): Promise<void>;
}

export class ServerDidNotStart extends Error {}

/** Starts the server from `python` in `folder` with VS Code-like capabilities. */
export async function startServer(
    python: string,
    folder: string,
    options: InitializationOptions,
    env: NodeJS.ProcessEnv = process.env,
): Promise<Harness> {
    const exe = serverExecutable(python, folder, env);
    const child = spawn(exe.command, exe.args, { cwd: exe.options.cwd, env: exe.options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
    });
    const exited = new Promise<never>((_, reject) => {
        child.on('exit', (code, signal) =>
            reject(new ServerDidNotStart(`the server exited (${code ?? signal}) before answering initialize:\n${stderr.slice(-2000)}`)),
        );
        child.on('error', (e) => reject(new ServerDidNotStart(`the server could not be started: ${e.message}`)));
    });
    exited.catch(() => undefined);
    const connection = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    const h: Omit<Harness, 'initialize'> & { initialize?: InitializeResult } = {
        connection,
        process: child,
        stderr: () => stderr,
        applyEdits: [],
        shownDocuments: [],
        updates: [],
        diagnostics: [],
        logs: [],
        progress: [],
        notes: [],
        applyAnswer: { applied: false },
        execute: (command, argument) => connection.sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument] }),
        waitFor: async <T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> => {
            const deadline = Date.now() + timeoutMs;
            for (;;) {
                const value = probe();
                if (value !== undefined) {
                    return value;
                }
                if (Date.now() > deadline) {
                    throw new Error(`timed out waiting for ${what}; run updates: ${JSON.stringify(h.updates)}\nserver stderr:\n${stderr.slice(-3000)}`);
                }
                await new Promise((r) => setTimeout(r, 50));
            }
        },
        close: async () => {
            try {
                await Promise.race([connection.sendRequest(ShutdownRequest.type), new Promise((r) => setTimeout(r, 3000))]);
                await connection.sendNotification(ExitNotification.type);
            } catch {
                // already gone
            }
            await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 3000))]);
            if (child.exitCode === null) {
                child.kill();
            }
            connection.dispose();
        },
    };
    connection.onRequest(ApplyWorkspaceEditRequest.type, (params) => {
        h.applyEdits.push(params);
        return { applied: h.applyAnswer.applied };
    });
    connection.onRequest(ShowDocumentRequest.type, (params) => {
        h.shownDocuments.push(params);
        return { success: true };
    });
    connection.onRequest(WorkDoneProgressCreateRequest.type, (params) => {
        connection.onProgress(WorkDoneProgress.type, params.token, (value) => {
            h.progress.push(value);
        });
    });
    connection.onRequest(ConfigurationRequest.type, (params) => params.items.map((i) => (i.section === 'baton' ? options : null)));
    connection.onNotification(RUN_UPDATE_NOTIFICATION, (params: unknown) => {
        const update = parseRunUpdate(params);
        if (update !== undefined) {
            h.updates.push(update);
        }
    });
    for (const method of [EDIT_OUTCOME_NOTIFICATION, ARTIFACT_NOTIFICATION]) {
        connection.onNotification(method, (params: unknown) => {
            h.notes.push({ method, params });
        });
    }
    connection.onNotification(PublishDiagnosticsNotification.type, (p) => {
        h.diagnostics.push(p);
    });
    connection.onNotification(LogMessageNotification.type, (p) => {
        h.logs.push(p.message);
    });
    connection.onNotification(ShowMessageNotification.type, (p) => {
        h.logs.push(p.message);
    });
    connection.listen();

    const rootUri = pathToFileURL(folder).toString();
    const initialize = await Promise.race([
        connection.sendRequest(InitializeRequest.type, {
            processId: process.pid,
            rootUri,
            workspaceFolders: [{ uri: rootUri, name: 'project' }],
            initializationOptions: options,
            capabilities: {
                workspace: {
                    applyEdit: true,
                    configuration: true,
                    workspaceEdit: {
                        documentChanges: true,
                        resourceOperations: ['create', 'rename', 'delete'],
                        changeAnnotationSupport: { groupsOnLabel: true },
                    },
                    executeCommand: { dynamicRegistration: true },
                },
                window: { workDoneProgress: true, showDocument: { support: true } },
                textDocument: { publishDiagnostics: { relatedInformation: true } },
                // What the extension's BatonCapabilitiesFeature adds (notifications.ts).
                experimental: withBatonCapabilities(undefined),
            },
        }),
        exited,
    ]);
    await connection.sendNotification(InitializedNotification.type, {});
    return { ...h, initialize };
}
