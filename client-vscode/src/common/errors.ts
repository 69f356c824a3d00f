/**
 * Sorts the server's JSON-RPC errors into the few cases the client reacts to differently.
 *
 * Pure: works on any thrown value, so the extension and the integration test share it.
 */

export type ErrorKind = 'missingApiKey' | 'untrustedWorkspace' | 'unknownCommand' | 'input' | 'other';

export interface ClassifiedError {
    kind: ErrorKind;
    message: string;
}

const METHOD_NOT_FOUND = -32601;

/** Readable text of any thrown value: a message, a string, or its JSON. */
export function textOf(value: unknown): string {
    if (typeof value === 'string') {
        return value;
    }
    const message = field(value, 'message');
    if (typeof message === 'string') {
        return message;
    }
    if (value === undefined || value === null) {
        return 'unknown error';
    }
    try {
        return JSON.stringify(value);
    } catch {
        return 'unreadable error';
    }
}

function field(value: unknown, key: string): unknown {
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** True when the server says it has no such command (pygls: "Command name 'x' is not defined"). */
export function isUnknownCommand(error: unknown, command?: string): boolean {
    const code = field(error, 'code');
    const message = textOf(error);
    if (code === METHOD_NOT_FOUND) {
        return true;
    }
    const unknown = /command name .* is not defined|unknown command|no such command|command .* (?:not found|not registered|is not supported)/i;
    return unknown.test(message) && (command === undefined || message.includes(command) || !/'[^']+'/.test(message));
}

export function classifyError(error: unknown, command?: string): ClassifiedError {
    const message = textOf(error);
    if (field(error, 'name') === 'InputError') {
        return { kind: 'input', message };
    }
    if (field(field(error, 'data'), 'reason') === 'missingApiKey' || (/\bAPI key\b/i.test(message) && /missing|not set|no /i.test(message))) {
        return { kind: 'missingApiKey', message };
    }
    if (field(field(error, 'data'), 'reason') === 'untrustedWorkspace') {
        return { kind: 'untrustedWorkspace', message };
    }
    if (isUnknownCommand(error, command)) {
        return { kind: 'unknownCommand', message };
    }
    return { kind: 'other', message };
}

/** "Baton: <what failed>: <server message>" for an error toast. */
export function describeFailure(what: string, error: unknown): string {
    const message = textOf(error).trim();
    return `Baton: ${what} failed: ${message || 'no reason given'}`;
}
