/**
 * The `baton-proposed:` URIs that show a run's proposed text of one file in a diff editor.
 *
 * The path repeats the file's path so the tab title and language mode match the real file;
 * the query carries the run id and the real file URI. Pure, so the round trip is unit-tested.
 */

export const PROPOSED_SCHEME = 'baton-proposed';

export interface ProposedRef {
    runId: string;
    /** The file URI as the server knows it (file:///...). */
    uri: string;
    /** True for the empty side of a create or delete. */
    empty?: boolean;
}

export interface UriParts {
    scheme: string;
    path: string;
    query: string;
}

function pathOf(fileUri: string): string {
    const match = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/[^?#]*)/i.exec(fileUri);
    const raw = match ? match[1] : '/' + fileUri.replace(/^[a-z][a-z0-9+.-]*:/i, '').replace(/^\/+/, '');
    try {
        return decodeURIComponent(raw);
    } catch {
        return raw;
    }
}

export function encodeProposed(ref: ProposedRef): UriParts {
    const params = new URLSearchParams({ run: ref.runId, uri: ref.uri });
    if (ref.empty) {
        params.set('empty', '1');
    }
    return { scheme: PROPOSED_SCHEME, path: pathOf(ref.uri), query: params.toString() };
}

/** Reads a `baton-proposed:` URI's query; a malformed one says what is missing. */
export function decodeProposed(query: string): ProposedRef {
    const params = new URLSearchParams(query);
    const runId = params.get('run');
    const uri = params.get('uri');
    if (!runId || !uri) {
        throw new Error(`Not a Baton proposed-file URI (query "${query}" needs run= and uri=).`);
    }
    return params.get('empty') === '1' ? { runId, uri, empty: true } : { runId, uri };
}
