/**
 * The API key lives in VS Code's SecretStorage, never in settings.json.
 *
 * It reaches the server in `initializationOptions` and, when it changes, in
 * `workspace/didChangeConfiguration`. `OPENAI_API_KEY` in the environment also works: the
 * server reads it itself.
 */

import * as vscode from 'vscode';
import { apiKeyInputProblem } from './args';

export const SECRET_NAME = 'baton.apiKey';

export class ApiKeyStore implements vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<void>();
    readonly onDidChange = this.changed.event;
    private readonly subscription: vscode.Disposable;

    constructor(private readonly secrets: vscode.SecretStorage) {
        this.subscription = secrets.onDidChange((e) => {
            if (e.key === SECRET_NAME) {
                this.changed.fire();
            }
        });
    }

    async get(): Promise<string | undefined> {
        const key = await this.secrets.get(SECRET_NAME);
        return key === undefined || key.trim() === '' ? undefined : key.trim();
    }

    async set(key: string): Promise<void> {
        await this.secrets.store(SECRET_NAME, key.trim());
    }

    async delete(): Promise<void> {
        await this.secrets.delete(SECRET_NAME);
    }

    dispose(): void {
        this.subscription.dispose();
        this.changed.dispose();
    }
}

/** Asks for the key (masked); an empty answer removes the stored key. True when something changed. */
export async function promptForApiKey(store: ApiKeyStore): Promise<boolean> {
    const hasKey = (await store.get()) !== undefined;
    const value = await vscode.window.showInputBox({
        title: 'Baton: Set API key',
        prompt: hasKey
            ? 'A key is stored. Enter a new key, or leave empty and press Enter to remove it. It is kept in VS Code\'s secret storage, never in settings.'
            : 'API key for the OpenAI-compatible endpoint (baton.baseUrl). It is kept in VS Code\'s secret storage, never in settings.',
        placeHolder: 'sk-…',
        password: true,
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() === '' ? undefined : apiKeyInputProblem(v)),
    });
    if (value === undefined) {
        return false;
    }
    if (value.trim() === '') {
        if (!hasKey) {
            return false;
        }
        await store.delete();
        void vscode.window.showInformationMessage('Baton: API key removed. The server falls back to OPENAI_API_KEY from its environment, if set.');
        return true;
    }
    await store.set(value);
    void vscode.window.showInformationMessage('Baton: API key saved in secret storage.');
    return true;
}
