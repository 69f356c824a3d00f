/**
 * Which server command each palette command needs, and the context keys that hide a command
 * the running server does not offer (so nothing in the palette answers "not available").
 *
 * Until a server has answered initialize nothing is hidden: running a command is what starts
 * the server, and its error then says what is missing. Pure: the manifest test checks every
 * `when` clause against this table.
 */

import { SERVER_COMMANDS } from './args';
import { CLIENT_COMMANDS } from './ids';

/** Client command → the server command it calls. */
export const NEEDS: Readonly<Record<string, string>> = {
    [CLIENT_COMMANDS.runTask]: SERVER_COMMANDS.planImplementReview,
    [CLIENT_COMMANDS.runOnModule]: SERVER_COMMANDS.planImplementReview,
    [CLIENT_COMMANDS.triage]: SERVER_COMMANDS.triageFixValidate,
    [CLIENT_COMMANDS.fixFailingTests]: SERVER_COMMANDS.triageFixValidate,
    [CLIENT_COMMANDS.cancel]: SERVER_COMMANDS.cancelRun,
    [CLIENT_COMMANDS.continue]: SERVER_COMMANDS.continueRun,
    [CLIENT_COMMANDS.showRuns]: SERVER_COMMANDS.listRuns,
    [CLIENT_COMMANDS.applyAgain]: SERVER_COMMANDS.applyRun,
    [CLIENT_COMMANDS.showStatistics]: SERVER_COMMANDS.showStats,
    [CLIENT_COMMANDS.showProposedDiff]: SERVER_COMMANDS.proposedFiles,
};

/** `baton.lacks.planImplementReview` for `baton.planImplementReview`. */
export function lacksKey(serverCommand: string): string {
    return `baton.lacks.${serverCommand.replace(/^baton\./, '')}`;
}

/** The `when` clause that hides `clientCommand` once the server is known to lack its command. */
export function paletteWhen(clientCommand: string): string | undefined {
    const needed = NEEDS[clientCommand];
    return needed === undefined ? undefined : `!${lacksKey(needed)}`;
}

/** Context key values for the commands a server advertised (undefined: no server, hide nothing). */
export function paletteContext(advertised: readonly string[] | undefined): Record<string, boolean> {
    const out: Record<string, boolean> = {};
    for (const needed of new Set(Object.values(NEEDS))) {
        out[lacksKey(needed)] = advertised !== undefined && !advertised.includes(needed);
    }
    return out;
}
