import { checkErrorStream, checkOptions, isPlainPath, notAnApplication, runApp, type Application, type Environ, type ErrorStream, type OptionTypes } from '@ngi/core';
import { baseUrlSymbol, directListener, drainUnread, hasRequestBody, type DirectListener } from '@ngi/node';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { asError } from './_errors.ts';
import { environOf, type EnvironSettings, type RawRequest } from './_environ.ts';
import { RequestBody, bodyUntouched, inputOf, keepPayload } from './_input.ts';
import type { ParsedBodyMode } from './_parsed-body.ts';
import { mountPoint, type MountSettings } from './_mount-point.ts';
import { prefixSegments, semicolonToQuery, type PrefixSegment } from './_paths.ts';
import { FastifySink, type SinkSettings } from './_sink.ts';

export type { ParsedBodyMode } from './_parsed-body.ts';

/** Options of {@link fastifyNgi}, next to Fastify's own `prefix`. */
export interface FastifyNgiOptions {
  /** The NGI application to mount: every method Fastify knows, the prefix itself and every path below it. */
  app: Application;
  /**
   * Where `ngi.errors` writes.
   * @default the request's logger (`request.log.error`), so messages carry the request id
   */
  errors?: ErrorStream | undefined;
  /**
   * Whether a `404` with `x-cascade: pass` from the application goes to Fastify's not-found
   * handler (§14.1). It never does once the application has read the request body.
   * @default true
   */
  fallthrough?: boolean | undefined;
  /**
   * What the application reads from `ngi.input` when a hook or middleware before the plugin
   * already read the request body: `"serialize"` hands over the raw bytes if kept
   * (`request.rawBody`), else the parsed body as bytes again (Buffer, string, JSON or form
   * object); `"error"` makes reading the body throw.
   * @default "serialize"
   */
  parsedBody?: ParsedBodyMode | undefined;
  /**
   * The most bytes of an unread request body drained after the response so the connection can
   * be reused (§12.3); past it the connection is closed.
   * @default 1048576 (1 MiB)
   */
  drainLimit?: number | undefined;
  /**
   * `ngi.multiprocess`: whether other processes serve the same application.
   * @default false
   */
  multiprocess?: boolean | undefined;
  /**
   * For an application made by `fromNodeListener`, `fromExpress`, `fromKoa` or `fromFastify`:
   * run its listener on Fastify's own `request.raw` and `reply.raw`, as @fastify/express does,
   * instead of converting the exchange. It spares the conversion, though an Express app runs
   * faster converted (on a `req` and `res` made with its own prototypes). The response bypasses
   * Fastify's reply pipeline: `onSend` hooks and compression do not see it (`onResponse` hooks
   * and request logging still run); headers set on `reply` before are kept. A request the
   * listener passes on (Express: no route matched) goes to Fastify's not-found handler (with `fallthrough`), an
   * error before the head to its error handler. Over HTTP/2, or when a hook before the plugin
   * read the request body, the exchange is converted as usual.
   * @default false
   */
  direct?: boolean | undefined;
}

interface Settings extends EnvironSettings, SinkSettings, MountSettings {
  app: Application;
  direct: DirectListener | undefined;
  parsedBody: ParsedBodyMode;
}

/**
 * A Fastify plugin that mounts an NGI application at the plugin's prefix:
 * `fastify.register(fastifyNgi, { prefix: '/legacy', app })`. The prefix (after any parent
 * prefixes) is `SCRIPT_NAME` and the rest `PATH_INFO`. The request body reaches the application
 * raw and streaming: the plugin's routes have their own content-type parser, which reads
 * nothing. The response goes through Fastify's reply pipeline — `onSend` and `onResponse`
 * hooks, compression, request logging — and keeps headers set on `reply` earlier. A `404` with
 * `x-cascade: pass` goes to Fastify's not-found handler, an error before the head to its error
 * handler. The plugin is encapsulated: its parser and routes stay inside its own context.
 */
export const fastifyNgi: FastifyPluginCallback<FastifyNgiOptions> = (instance, options, done) => {
  // `fastify.register(fastifyNgi(app))`, the habit of plugins made by a factory.
  if (typeof done !== 'function') throw new TypeError('@ngi/fastify: fastifyNgi is a Fastify plugin, not a factory: fastify.register(fastifyNgi, { app })');
  let settings: Settings;
  try {
    settings = settingsOf(options, prefixSegments(instance.prefix), semicolonDelimits(instance.initialConfig as RouterConfig));
  } catch (error) {
    done(error as Error);
    return;
  }
  instance.removeAllContentTypeParsers();
  instance.addContentTypeParser('*', keepPayload);
  const handler = (request: FastifyRequest, reply: FastifyReply): void => handle(request, reply, settings);
  try {
    instance.all('/', handler);
    instance.all('/*', handler);
  } catch (error) {
    // Thrown from a callback plugin, Fastify's own error would end the process rather than fail ready().
    const where = instance.prefix === '' ? 'the root' : JSON.stringify(instance.prefix);
    const why = (error as { code?: unknown }).code === 'FST_ERR_DUPLICATED_ROUTE' ? 'its routes are taken (is it registered there twice?)' : (error as Error).message;
    done(new TypeError(`@ngi/fastify: cannot mount the application at ${where}: ${why}`, { cause: error }));
    return;
  }
  done();
};

const FASTIFY_REGISTER: OptionTypes = { prefix: null, logLevel: null, logSerializers: null };

/** The plugin's options, checked, with their defaults; a TypeError naming a bad one. */
function settingsOf(options: FastifyNgiOptions, prefix: readonly PrefixSegment[], semicolon: boolean): Settings {
  // Fastify hands a plugin the options of `register` too.
  checkOptions(options, '@ngi/fastify', { ...FASTIFY_REGISTER, app: null, errors: null, fallthrough: 'boolean', parsedBody: null, drainLimit: null, multiprocess: 'boolean', direct: 'boolean' });
  const app = options.app;
  const why = notAnApplication(app);
  if (why !== undefined) throw new TypeError(`@ngi/fastify: options.app must be an NGI application (environ, startResponse) => body, ${why}`);
  const fallthrough = options.fallthrough ?? true;
  const direct = options.direct === true ? directListener(app, fallthrough) : undefined;
  if (options.direct === true && direct === undefined) {
    throw new TypeError('@ngi/fastify: options.direct needs an application made by fromNodeListener, fromExpress, fromKoa or fromFastify');
  }
  const drainLimit = options.drainLimit ?? 1024 * 1024;
  // NaN would turn the drain limit off: every `drained > limit` is false.
  if (!(drainLimit >= 0)) throw new TypeError(`@ngi/fastify: options.drainLimit must be a number of bytes, 0 or more, got ${String(drainLimit)}`);
  const parsedBody = options.parsedBody ?? 'serialize';
  if (parsedBody !== 'serialize' && parsedBody !== 'error') {
    throw new TypeError(`@ngi/fastify: options.parsedBody must be "serialize" or "error", got ${JSON.stringify(parsedBody)}`);
  }
  checkErrorStream(options.errors, '@ngi/fastify');
  const multiprocess = options.multiprocess ?? false;
  return { app, direct, errors: options.errors, multiprocess, prefix, semicolon, fallthrough, drainLimit, parsedBody };
}

/**
 * Whether Fastify's router takes the first `;` of a path as the start of the query: its
 * `useSemicolonDelimiter`, in `routerOptions` or, deprecated, at the top level (FSTDEP022).
 * `initialConfig` puts a false in `routerOptions` when only the top level has it, so a true in
 * either counts; it cannot tell that false from one given to override a true at the top level.
 */
function semicolonDelimits(config: RouterConfig): boolean {
  return config.routerOptions?.useSemicolonDelimiter === true || config.useSemicolonDelimiter === true;
}

/** Fastify's `initialConfig` as it is: the type of its `routerOptions` leaves out `useSemicolonDelimiter`. */
type RouterConfig = { useSemicolonDelimiter?: boolean; routerOptions?: { useSemicolonDelimiter?: boolean } };

/** Runs the application for one request Fastify routed to the plugin. */
function handle(request: FastifyRequest, reply: FastifyReply, settings: Settings): void {
  const target = request.raw.url ?? '/';
  // Fastify routed the path before the `;` and parses the rest as the query: so does the environ.
  const url = settings.semicolon ? semicolonToQuery(target) : target;
  // At the root, a path with nothing to decode or normalize is all PATH_INFO: nothing to parse here.
  const scriptName = settings.prefix.length === 0 && isPlainPath(url) ? '' : mountPoint(request, reply, url, settings);
  if (scriptName === undefined) return;
  const direct = settings.direct !== undefined && bodyUntouched(request) ? settings.direct : undefined;
  // At the root of a server of its own, a listener run directly needs no environ to find its path.
  const bare = direct !== undefined && scriptName === '' && url === target && (request.raw as RawRequest)[baseUrlSymbol] === undefined;
  let environ: Environ | undefined;
  try {
    environ = bare ? undefined : environOf(request, reply.raw, url, scriptName, settings);
    if (direct !== undefined && runDirect(direct, request, reply, environ, settings.drainLimit)) return;
    environ ??= environOf(request, reply.raw, url, scriptName, settings);
  } catch (error) {
    reply.send(error);
    return;
  }
  const sink = new FastifySink(request, reply, settings);
  if (hasRequestBody(environ)) {
    const input = inputOf(request, reply, environ, settings.parsedBody);
    if (input instanceof RequestBody) sink.input = input;
    environ['ngi.input'] = input;
  }
  sink.running = runApp(settings.app, environ, sink);
}

/**
 * The `direct` option: the listener answers on `reply.raw` itself, with the headers set on
 * `reply` before; Fastify's `onResponse` hooks run when it finishes. A request it passes on
 * goes to Fastify's not-found handler, an error before the head to its error handler; after
 * the head the connection is dropped (§11.2) and the error logged. False, having run nothing,
 * over HTTP/2, where the listener expects HTTP/1 objects.
 */
function runDirect(direct: DirectListener, request: FastifyRequest, reply: FastifyReply, environ: Environ | undefined, drainLimit: number): boolean {
  if (request.raw.httpVersionMajor >= 2) return false;
  const res = reply.raw;
  const headers = reply.getHeaders();
  for (const name in headers) res.setHeader(name, headers[name]!);
  // Node would read what the listener leaves of the body to its end, however long (§12.3).
  drainUnread(request.raw, res, drainLimit);
  return direct(request.raw, res, environ, (error) => {
    if (error === undefined) {
      reply.callNotFound();
    } else if (res.headersSent) {
      request.log.error({ err: error }, '§11.2: error after the response head was sent; connection dropped');
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    } else {
      reply.send(asError(error));
    }
  });
}

// Names the plugin in Fastify's plugin tree and errors, and declares the Fastify major it needs,
// without `skip-override`: the plugin keeps its own encapsulated context.
Object.assign(fastifyNgi, {
  [Symbol.for('fastify.display-name')]: '@ngi/fastify',
  [Symbol.for('plugin-meta')]: { name: '@ngi/fastify', fastify: '5.x' },
});
