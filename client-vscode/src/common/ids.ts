/**
 * Ids of the commands the extension contributes (package.json `contributes.commands`).
 *
 * They differ from the server's `baton.*` commands (args.ts SERVER_COMMANDS) on purpose:
 * vscode-languageclient registers every server command under its own name, and two
 * registrations of one id would fail.
 */

/** Client command ids; distinct from the server's `baton.*` commands, which the client also registers. */
export const CLIENT_COMMANDS = {
    runTask: 'baton.runTask',
    runOnModule: 'baton.runOnModule',
    triage: 'baton.triage',
    fixFailingTests: 'baton.fixFailingTests',
    cancel: 'baton.cancel',
    continue: 'baton.continue',
    showRuns: 'baton.showRuns',
    applyAgain: 'baton.applyAgain',
    showStatistics: 'baton.showStatistics',
    showProposedDiff: 'baton.showProposedDiff',
    setApiKey: 'baton.setApiKey',
    restartServer: 'baton.restartServer',
    showLog: 'baton.showLog',
} as const;
