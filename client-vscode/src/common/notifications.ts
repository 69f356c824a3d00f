/**
 * Wires Baton's own protocol into the language client: announces `experimental.baton.*` (so the
 * server sends one signal per event to us instead of its messages, progress and showDocument),
 * shows `baton/editOutcome` as one message with its actions, opens `baton/artifact` documents
 * without pulling the Explorer into `.baton/`, and files stderr lines under their real level.
 */

import * as readline from 'node:readline';
import type * as stream from 'node:stream';
import * as vscode from 'vscode';
import type { ClientCapabilities, FeatureState, StaticFeature } from 'vscode-languageclient/node';
import { CLIENT_COMMANDS } from './ids';
import { ARTIFACT_NOTIFICATION, EDIT_OUTCOME_NOTIFICATION, editOutcomeNotice, parseArtifact, parseEditOutcome, withBatonCapabilities, type Artifact } from './notices';
import { StderrLevels } from './stderrLevel';

/** Adds `experimental.baton` to the client capabilities the language client sends in initialize. */
export class BatonCapabilitiesFeature implements StaticFeature {
    fillClientCapabilities(capabilities: ClientCapabilities): void {
        capabilities.experimental = withBatonCapabilities(capabilities.experimental);
    }

    initialize(): void {
        // Nothing to set up: the notifications are handled by the client's onNotification.
    }

    getState(): FeatureState {
        return { kind: 'static' };
    }

    clear(): void {
        // Stateless.
    }
}

function eachLine(input: stream.Readable, fn: (line: string) => void): void {
    readline.createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 }).on('line', fn);
}

/** The client's stderr handler: each line under its own level (see stderrLevel.ts). */
export function leveledStderr(input: stream.Readable, channel: vscode.LogOutputChannel): void {
    const levels = new StderrLevels();
    eachLine(input, (line) => {
        const { level, text } = levels.next(line);
        channel[level](text);
    });
}

/** stdout when it is not the protocol (other transports): information, as the client's default. */
export function stdoutAsInfo(input: stream.Readable, channel: vscode.LogOutputChannel): void {
    eachLine(input, (line) => channel.info(line));
}

/** The one message after the editor answered (or refused) a run's workspace edit. */
export async function showEditOutcome(params: unknown, warn: (m: string) => void): Promise<void> {
    const outcome = parseEditOutcome(params);
    if (outcome === undefined) {
        warn(`Ignored a malformed ${EDIT_OUTCOME_NOTIFICATION}: ${JSON.stringify(params)}`);
        return;
    }
    const notice = editOutcomeNotice(outcome);
    const show =
        notice.severity === 'info' ? vscode.window.showInformationMessage : notice.severity === 'warning' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
    const choice = await show(notice.text, ...notice.actions);
    if (choice === 'Apply again') {
        await vscode.commands.executeCommand(CLIENT_COMMANDS.applyAgain, outcome.runId);
    } else if (choice === 'Show proposed diff') {
        await vscode.commands.executeCommand(CLIENT_COMMANDS.showProposedDiff, outcome.runId);
    } else if (choice === 'Show log') {
        await vscode.commands.executeCommand(CLIENT_COMMANDS.showLog);
    }
}

/**
 * Opens a run's document as a preview beside nothing, keeping the user's focus where it is.
 * `explorer.autoRevealExclude` (package.json configurationDefaults: `**∕.baton`) keeps the
 * Explorer from expanding `.baton/runs/<id>/` for it.
 */
export async function openArtifact(artifact: Artifact | string): Promise<void> {
    const uri = vscode.Uri.parse(typeof artifact === 'string' ? artifact : artifact.uri);
    await vscode.window.showTextDocument(uri, { preview: true, preserveFocus: true });
}

export async function onArtifact(params: unknown, warn: (m: string) => void): Promise<void> {
    const artifact = parseArtifact(params);
    if (artifact === undefined) {
        warn(`Ignored a malformed ${ARTIFACT_NOTIFICATION}: ${JSON.stringify(params)}`);
        return;
    }
    await openArtifact(artifact);
}
