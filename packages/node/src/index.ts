export { toNodeListener, type ToNodeListenerOptions, type NodeListener } from './to-node-listener.ts';
export {
  fromNodeListener,
  prototypesOf,
  environSymbol,
  baseUrlSymbol,
  type FromNodeListenerOptions,
  type NodeRequestListener,
  type NgiIncomingMessage,
} from './from-node-listener.ts';
export { directListener, type DirectListener } from './_direct.ts';
export { serve, serverClassesFor, unusedConnections, type ServeOptions, type ServeHandle } from './serve.ts';
export { nodeEnviron, hasRequestBody, stderrErrors, type NodeEnvironOptions } from './node-environ.ts';
export { NodeSink, checkHttp2Head, drainAfterResponse, drainUnread, dropResponse, isAsciiHead, markDropped, mergeHeader, resetCloseDelimited, type BeforeDrain, type NodeSinkOptions } from './node-sink.ts';
export {
  parsedBodyInput,
  type ParsedBody,
  type ParsedBodyOptions,
  type ParsedBodyMode,
  type ParsedBodyFailure,
} from './node-parsed-body.ts';
export { answerElsewhere, clientLeft, endingResponse, onClientLeft } from './_client-left.ts';
export type { NodeRequest, NodeResponse, SignalSource } from './_environ.ts';
