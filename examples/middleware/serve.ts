import { serve } from '@ngi/node';
import { application } from './app.ts';

const server = await serve(application, { port: Number(process.env.PORT ?? 8000) });
console.log(`listening on ${server.url}/ (see the server-timing header)`);
