import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type ErrorRequestHandler, type Request } from 'express';
import { afterAll } from 'vitest';

/** Files the feature app serves, written once per test run. */
export const files = (() => {
  const root = mkdtempSync(join(tmpdir(), 'ngi-express-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'docs'));
  writeFileSync(join(root, 'hello.txt'), 'Hello from a static file.\n');
  writeFileSync(join(root, 'docs', 'index.html'), '<!doctype html>\n<title>docs</title>\n<p>Docs index</p>\n');
  const data = randomBytes(300_000);
  writeFileSync(join(root, 'data.bin'), data);
  return { root, data };
})();

/** What a request looked like to Express: routing, proxy and mount views. */
function describe(req: Request) {
  return {
    method: req.method,
    url: req.url,
    baseUrl: req.baseUrl,
    originalUrl: req.originalUrl,
    path: req.path,
    query: req.query,
    ip: req.ip,
    ips: req.ips,
    protocol: req.protocol,
    secure: req.secure,
    hostname: req.hostname,
    xhr: req.xhr,
  };
}

/**
 * An Express app that uses what Express users rely on: routers and params, body parsers,
 * response helpers, static files, streaming writes, error handlers and `trust proxy`.
 */
export function featureApp(): express.Express {
  const app = express();
  app.set('trust proxy', 'loopback');
  app.use(express.json(), express.urlencoded({ extended: true }), express.text(), express.raw({ type: 'application/octet-stream' }));
  app.use('/static', express.static(files.root));

  const users = express.Router();
  users.param('id', (req, _res, next, id: string) => {
    (req as Request & { upper?: string }).upper = id.toUpperCase();
    next();
  });
  users.get('/:id', (req, res) => void res.json({ id: req.params.id, upper: (req as Request & { upper?: string }).upper, ...describe(req) }));
  users.get('/:id/posts/:post', (req, res) => void res.json({ params: req.params, ...describe(req) }));
  app.use('/users', users);

  app.get('/info', (req, res) => void res.json(describe(req)));
  app.post('/echo', (req, res) => {
    const body: unknown = req.body;
    if (Buffer.isBuffer(body)) res.json({ kind: 'raw', size: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    else res.json({ kind: typeof body, body, type: req.get('content-type') });
  });

  app.get('/send', (_req, res) => void res.send('plain text, with an ETag'));
  app.get('/big', (_req, res) => void res.send(files.data));
  app.get('/cookies', (_req, res) => {
    res.cookie('a', '1').cookie('b', 'two', { httpOnly: true, path: '/users' }).clearCookie('gone');
    res.send('cookies');
  });
  app.get('/redirect', (_req, res) => res.redirect('/target'));
  app.get('/redirect-relative', (_req, res) => res.redirect(301, 'sibling'));
  app.get('/format', (_req, res) =>
    res.format({
      'text/plain': () => res.send('as text'),
      'application/json': () => res.json({ as: 'json' }),
    }),
  );
  app.get('/file', (_req, res) => res.sendFile(join(files.root, 'hello.txt')));
  app.get('/download', (_req, res) => res.download(join(files.root, 'data.bin'), 'report.bin'));
  app.get('/pipe', (_req, res) => void createReadStream(join(files.root, 'data.bin')).pipe(res.type('application/octet-stream')));
  app.get('/status/:code', (req, res) => void res.sendStatus(Number(req.params.code)));
  app.get('/sse', (_req, res) => {
    res.set({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }).flushHeaders();
    let n = 0;
    const timer = setInterval(() => {
      res.write(`data: ${++n}\n\n`);
      if (n === 3) (clearInterval(timer), res.end());
    }, 5);
  });

  app.get('/throws', () => {
    throw Object.assign(new Error('thrown in a route'), { status: 409 });
  });
  app.get('/rejects', async () => {
    throw new Error('rejected in an async route');
  });
  app.get('/next-error', (_req, _res, next) => next(Object.assign(new Error('teapot'), { status: 418 })));
  const handler: ErrorRequestHandler = (error: Error & { status?: number; type?: string }, req, res, _next) => {
    res.status(error.status ?? 500).json({ error: error.message, type: error.type ?? null, at: req.originalUrl });
  };
  app.use(handler);
  return app;
}
