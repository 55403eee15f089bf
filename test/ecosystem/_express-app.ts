import { createHash } from 'node:crypto';
import compression from 'compression';
import cookieParser from 'cookie-parser';
import cors from 'cors';
import express from 'express';
import session from 'express-session';
import helmet from 'helmet';
import morgan from 'morgan';
import multer from 'multer';
import { gate } from '../fixtures/gate.ts';

declare module 'express-session' {
  interface SessionData {
    count: number;
  }
}

export const SECRET = 'a secret shared by cookie-parser and express-session';
/** morgan's combined format, with the response time last and without the date. */
export const LOG_FORMAT = ':remote-addr :method :url HTTP/:http-version :status :res[content-length] :res[content-encoding] ":referrer" ":user-agent" :response-time';

export const ORIGIN = 'https://client.example';

/** A JSON document of some 150 KB, compressed when sent. */
export const bigDocument = {
  items: Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ['a', 'b', String(i % 7)], price: i * 1.25 })),
};

/** The parts of `/stream`; the second is written once the test has seen the first. */
export const STREAM_PARTS = ['first part, flushed on its own\n'.repeat(20), 'second part, after the gate\n'.repeat(200)];

/** morgan's log lines, with a way to wait for the next ones. */
export class LogLines {
  readonly lines: string[] = [];
  private waiting: { count: number; resolve(): void }[] = [];
  readonly stream = { write: (line: string) => void this.push(line.trimEnd()) };

  private push(line: string): void {
    this.lines.push(line);
    this.waiting = this.waiting.filter((waiter) => (this.lines.length >= waiter.count ? (waiter.resolve(), false) : true));
  }

  /** Resolves once `count` lines in all have been written. */
  until(count: number): Promise<string[]> {
    if (this.lines.length >= count) return Promise.resolve(this.lines.slice());
    return new Promise((resolve) => this.waiting.push({ count, resolve: () => resolve(this.lines.slice()) }));
  }
}

/**
 * A legacy Express app made of the middleware such apps use: morgan, helmet, cors,
 * compression, cookie-parser, express-session and multer. Its error handler notes every
 * error's message in `failures`.
 */
export function ecosystemApp(log: LogLines, failures = new LogLines()): express.Express {
  const app = express();
  app.set('trust proxy', 'loopback');
  app.use(morgan(LOG_FORMAT, { stream: log.stream }));
  app.use(helmet());
  app.use(cors({ origin: ORIGIN, credentials: true, exposedHeaders: ['x-total'], maxAge: 600 }));
  app.use(compression({ threshold: 1024 }));
  app.use(cookieParser(SECRET));
  app.use(session({ secret: SECRET, name: 'sid', resave: false, saveUninitialized: false, cookie: { secure: 'auto' } }));

  app.get('/count', (req, res) => {
    req.session.count = (req.session.count ?? 0) + 1;
    res.json({ count: req.session.count });
  });
  app.get('/cookies/set', (_req, res) => {
    res.cookie('plain', 'p 1').cookie('signed', 'value to trust', { signed: true, httpOnly: true });
    res.json({ set: true });
  });
  app.get('/cookies', (req, res) => void res.json({ cookies: req.cookies as unknown, signed: req.signedCookies as unknown }));

  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: 2 * 1024 * 1024 } });
  app.post('/upload', upload.single('file'), (req, res) => {
    const file = req.file;
    res.json({
      fields: { ...(req.body as Record<string, unknown>) },
      file: file && { field: file.fieldname, name: file.originalname, type: file.mimetype, size: file.size, sha256: createHash('sha256').update(file.buffer).digest('hex') },
    });
  });

  app.get('/api', (_req, res) => void res.set('x-total', '3').json({ ok: true }));
  app.get('/missing', (_req, res) => void res.status(404).send('no such thing'));
  app.get('/big.json', (_req, res) => void res.json(bigDocument));
  app.get('/stream/:id', async (req, res) => {
    res.type('text/plain');
    res.write(STREAM_PARTS[0]);
    (res as express.Response & { flush(): void }).flush();
    await gate(req.params.id).promise;
    res.end(STREAM_PARTS[1]);
  });

  // What legacy apps end with: multer's limit errors (LIMIT_FILE_SIZE) rendered as a 413.
  const failed: express.ErrorRequestHandler = (error: Error & { code?: string }, _req, res, _next) => {
    failures.stream.write(error.message);
    res.status(error instanceof multer.MulterError ? 413 : 500).json({ error: error.message, code: error.code ?? null });
  };
  app.use(failed);
  return app;
}
