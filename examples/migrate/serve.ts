import { serve } from '@ngi/node';
import { application } from './app.ts';

const server = await serve(application, { port: Number(process.env.PORT ?? 8000) });
console.log(`${server.url}/users comes from the new app, ${server.url}/reports from the legacy one`);
