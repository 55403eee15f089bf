import { serve } from '@ngi/node';
import { application } from './app.ts';

const port = Number(process.env.PORT ?? 8000);
const server = await serve(application, { port });
console.log(`NGI demo listening on ${server.url}/  (try ${server.url}/?name=you and ${server.url}/clock)`);
process.once('SIGINT', () => void server.close());
process.once('SIGTERM', () => void server.close());
