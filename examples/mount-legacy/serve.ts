import { server } from './app.ts';

const port = Number(process.env.PORT ?? 8000);
server().listen(port, '127.0.0.1', () => console.log(`http://127.0.0.1:${port}/ and http://127.0.0.1:${port}/legacy/`));
