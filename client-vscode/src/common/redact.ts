/**
 * Keeps API keys out of the output channel and the LSP trace.
 *
 * With `baton.trace.server` on, the client logs whole messages, and `initialize` and
 * `workspace/didChangeConfiguration` carry the key; every line goes through {@link redact}.
 */

export const REDACTED = '***';

/** Replaces each secret (and anything that looks like an OpenAI-style key) in `text`. */
export function redact(text: string, secrets: readonly string[]): string {
    let out = text;
    for (const secret of secrets) {
        if (secret.length >= 4) {
            out = out.split(secret).join(REDACTED);
            const json = JSON.stringify(secret).slice(1, -1);
            if (json !== secret) {
                out = out.split(json).join(REDACTED);
            }
        }
    }
    out = out.replace(/("apiKey"\s*:\s*")[^"]*(")/g, `$1${REDACTED}$2`);
    return out.replace(/\bsk-[A-Za-z0-9_-]{16,}/g, REDACTED);
}

/** Redacts strings and error messages among log call arguments, leaving other values alone. */
export function redactArgs(args: readonly unknown[], secrets: readonly string[]): unknown[] {
    return args.map((arg) => {
        if (typeof arg === 'string') {
            return redact(arg, secrets);
        }
        if (arg instanceof Error) {
            const copy = new Error(redact(arg.message, secrets));
            copy.name = arg.name;
            copy.stack = arg.stack === undefined ? undefined : redact(arg.stack, secrets);
            return copy;
        }
        return arg;
    });
}
