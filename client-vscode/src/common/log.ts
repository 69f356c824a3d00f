/**
 * The "Baton" output channel: the extension's own log, the server's stderr and log messages,
 * and (with `baton.trace.server`) the LSP trace — all with API keys redacted.
 *
 * The language client gets a proxy of the channel. The proxy redacts every line, and reports
 * the `Trace` log level while `baton.trace.server` is on, because vscode-languageclient ≥ 10
 * only traces when its channel is at `Trace`.
 */

import * as vscode from 'vscode';
import { textOf } from './errors';
import { redactArgs } from './redact';
import type { TraceSetting } from './settings';

const WRITE_METHODS = new Set(['append', 'appendLine', 'replace', 'trace', 'debug', 'info', 'warn', 'error']);

export class BatonLog implements vscode.Disposable {
    /** Give this to the LanguageClient as `outputChannel` and `traceOutputChannel`. */
    readonly channel: vscode.LogOutputChannel;
    private readonly real: vscode.LogOutputChannel;
    private readonly levelChanged = new vscode.EventEmitter<vscode.LogLevel>();
    private secrets: string[] = [];
    private traceOn = false;

    constructor(name = 'Baton') {
        this.real = vscode.window.createOutputChannel(name, { log: true });
        this.channel = this.proxy();
    }

    /** Values that must never be written (the API key); replaced by *** in every line. */
    setSecrets(secrets: readonly (string | undefined)[]): void {
        this.secrets = secrets.filter((s): s is string => typeof s === 'string' && s.length > 0);
    }

    setTrace(setting: TraceSetting): void {
        const on = setting !== 'off';
        if (on !== this.traceOn) {
            this.traceOn = on;
            this.levelChanged.fire(this.effectiveLevel());
        }
    }

    private effectiveLevel(): vscode.LogLevel {
        return this.traceOn ? vscode.LogLevel.Trace : this.real.logLevel;
    }

    private proxy(): vscode.LogOutputChannel {
        const real = this.real;
        return new Proxy(real, {
            get: (target, prop, receiver) => {
                if (prop === 'logLevel') {
                    return this.effectiveLevel();
                }
                if (prop === 'onDidChangeLogLevel') {
                    return (listener: (level: vscode.LogLevel) => unknown, thisArg?: unknown) =>
                        vscode.Disposable.from(
                            target.onDidChangeLogLevel(() => listener.call(thisArg, this.effectiveLevel())),
                            this.levelChanged.event(listener, thisArg),
                        );
                }
                if (prop === 'trace') {
                    // The trace must show even when the channel itself is at Info.
                    return (message: string, ...args: unknown[]) => {
                        const [m, ...rest] = redactArgs([message, ...args], this.secrets);
                        if (target.logLevel <= vscode.LogLevel.Trace) {
                            target.trace(m as string, ...rest);
                        } else if (this.traceOn) {
                            target.info(m as string, ...rest);
                        }
                    };
                }
                const value: unknown = Reflect.get(target, prop, receiver);
                if (typeof value !== 'function') {
                    return value;
                }
                if (typeof prop === 'string' && WRITE_METHODS.has(prop)) {
                    return (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(target, redactArgs(args, this.secrets));
                }
                return (value as (...a: unknown[]) => unknown).bind(target);
            },
        });
    }

    info(message: string): void {
        this.channel.info(message);
    }

    warn(message: string): void {
        this.channel.warn(message);
    }

    error(message: string, error?: unknown): void {
        if (error instanceof Error) {
            this.channel.error(`${message}: ${error.message}`);
        } else if (error !== undefined) {
            this.channel.error(`${message}: ${textOf(error)}`);
        } else {
            this.channel.error(message);
        }
    }

    show(): void {
        this.real.show(true);
    }

    dispose(): void {
        this.levelChanged.dispose();
        this.real.dispose();
    }
}
