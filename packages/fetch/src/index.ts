export { fromFetch, type FromFetchOptions } from './from-fetch.ts';
export { toFetch, type ToFetchOptions, type ToFetchHandler } from './to-fetch.ts';
export type { Peer, PeerOf } from './_peer.ts';
export { environSymbol, baseUrlSymbol } from './_request.ts';
export type { FetchApp, FetchExecutionContext, FetchHandler } from './types.ts';
