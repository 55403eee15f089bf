import express from 'express';

/**
 * The Express app both hosts run directly: it reports what it saw of the request, echoes a
 * body, and fails before and after its head. `observe` sees each req and res first.
 */
export function legacy(observe?: (req: express.Request, res: express.Response) => void): express.Express {
  const app = express();
  if (observe !== undefined) app.use((req, res, next) => (observe(req, res), next()));
  app.get('/hello', (req, res) => {
    res.set('x-saw', JSON.stringify({ url: req.url, baseUrl: req.baseUrl, originalUrl: req.originalUrl }));
    res.send('hello from express');
  });
  app.post('/echo', (req, res) => void req.pipe(res));
  app.post('/json', express.json(), (req, res) => void res.json({ got: req.body as unknown }));
  app.get('/fail', () => {
    throw new Error('route failed');
  });
  // Answers, then passes the request on all the same: a mistake Express forgives.
  app.get('/answered-then-next', (_req, res, next) => {
    res.json({ answered: true });
    next();
  });
  app.get('/begun-then-next', (_req, res, next) => {
    res.write('partial;');
    next();
  });
  app.get('/fail-late', (_req, res, next) => {
    res.write('started ');
    next(new Error('failed after the head'));
  });
  return app;
}
