export { toNodeListener, type ToNodeListenerOptions, type NodeListener } from './to-node-listener.ts';
export { serve, type ServeOptions, type ServeHandle } from './serve.ts';
export type { NodeRequest, NodeResponse } from './_environ.ts';
