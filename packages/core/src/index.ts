export type * from './types.ts';
export { runApp, type ResponseSink } from './run.ts';
export {
  abortWatchSymbol,
  abortWatchOf,
  clientGone,
  copyEnviron,
  onClientGone,
  watchSignal,
  type AbortWatch,
  type ClientListener,
} from './client-watch.ts';
export { HttpError, ResponseDiscarded, checkErrorStream, checkOptions, consoleErrors, describeError, isReportedInside, notAnApplication, reportedInside, wronglyCalled, type OptionTypes } from './errors.ts';
export { HOP_BY_HOP, checkHeaders, checkStatus, getHeader, isCascadePass, lowerCaseName, namedBefore, sameHeaderName } from './_headers.ts';
export { toBytes, concatBytes, readBody, type ReadBodyOptions } from './body.ts';
export {
  parseTarget,
  decodePath,
  addRequestHeaders,
  requestHeaders,
  requestHost,
  isIpAddress,
  requestPath,
  requestUrl,
  encodePath,
  normalizePath,
  isPlainPath,
  canonicalPath,
  shiftPath,
  splitRawPath,
  type HeaderKeys,
  type ParsedTarget,
} from './environ.ts';
export { createEnviron, type EnvironInit, type BodyInit } from './create-environ.ts';
export { validator, ValidationError } from './validator.ts';
export { isThenable } from './_validate-error.ts';
export { mount, type MountOptions } from './mount.ts';
export { cascade, type CascadeOptions } from './cascade.ts';
export { compose } from './compose.ts';
export { proxyFix, type ProxyFixOptions } from './proxy-fix.ts';
export {
  request,
  stream,
  type TestRequest,
  type TestResponse,
  type TestResponseHead,
  type StreamingTestResponse,
} from './test-client.ts';
