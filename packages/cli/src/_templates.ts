import { createRequire } from 'node:module';

/** The files `ngi new NAME` writes, by path relative to the new directory. */
export function projectFiles(name: string, version: string): Record<string, string> {
  const range = `^${version}`;
  return {
    'package.json': `${JSON.stringify(
      {
        name,
        private: true,
        type: 'module',
        scripts: { start: 'ngi serve', dev: 'ngi serve --reload', check: 'ngi serve --check', test: `node --import tsx --test ${name}/app.test.ts` },
        ngi: { settings: `${name}/settings.ts` },
        dependencies: { '@ngi/cli': range, '@ngi/core': range, '@ngi/node': range },
        devDependencies: { tsx: TSX },
      },
      null,
      2,
    )}\n`,
    [`${name}/app.ts`]: APP,
    [`${name}/settings.ts`]: SETTINGS,
    [`${name}/app.test.ts`]: TEST,
    'README.md': readme(name),
    '.gitignore': 'node_modules/\n',
  };
}

const APP = `import type { Application, Middleware } from '@ngi/core';
import { getSettings } from '@ngi/cli';

/** The settings this site reads (see settings.ts). */
interface SiteSettings {
  GREETING: string;
}

/** The site itself: any (environ, startResponse) => body function is an NGI application. */
const site: Application = (environ, startResponse) => {
  // Settings are read per request: several sites with their own settings can share a process.
  const { GREETING } = getSettings<SiteSettings>();
  startResponse('200 OK', [['content-type', 'text/plain; charset=utf-8']]);
  return [\`\${GREETING} You asked for \${environ.SCRIPT_NAME}\${environ.PATH_INFO}\\n\`];
};

/** Middleware is any (app) => app function, as in WSGI: this one adds a header to every response. */
const poweredBy: Middleware = (app) => (environ, startResponse) =>
  app(environ, (status, headers, error) => startResponse(status, [...headers, ['x-powered-by', 'ngi']], error));

// To hand some paths to an app written for a framework, turn it into an application and mount it:
//
//   import express from 'express';
//   import { mount } from '@ngi/core';
//   import { fromExpress } from '@ngi/express';
//
//   const legacy = express().get('/', (req, res) => res.send('from Express'));
//   export const application = poweredBy(mount({ '/legacy': fromExpress(legacy) }, { fallback: site }));

/** What \`ngi serve\` serves: APPLICATION in settings.ts points here. */
export const application: Application = poweredBy(site);
`;

/** The tsx the command itself loads TypeScript with: the tests load it with the same. */
const TSX = `^${(createRequire(import.meta.url)('../package.json') as { dependencies: { tsx: string } }).dependencies.tsx}`;

const TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from '@ngi/core';
import { withSettings } from '@ngi/cli';
import { application } from './app.ts';

// The test client runs the application in process, with the validator checking the contract.
test('the site greets with its own setting', async () => {
  const site = withSettings({ GREETING: 'Hi!' })(application);
  const res = await request(site, { url: '/hello' });
  assert.equal(res.status, 200);
  assert.equal(res.text(), 'Hi! You asked for /hello\\n');
  assert.equal(res.header('x-powered-by'), 'ngi');
});
`;

const SETTINGS = `// The settings module: \`ngi serve\` reads it (it is named in package.json under "ngi"; the
// NGI_SETTINGS_MODULE environment variable or --settings can name another one), and the
// application reads it with getSettings().

/** The application to serve, relative to this file: MODULE:EXPORT. */
export const APPLICATION = './app.ts:application';

/** Where to listen; the command line (--bind), NGI_BIND and PORT win over this. */
export const BIND = ['127.0.0.1:8000'];

/** Worker processes; --workers, NGI_WORKERS and WEB_CONCURRENCY win over this. */
export const WORKERS = 1;

/** A setting of the site's own. */
export const GREETING = 'Hello from ngi!';
`;

function readme(name: string): string {
  return `# ${name}

An NGI site, written by \`ngi new ${name}\`.

\`\`\`sh
npm install          # installs the ngi command and the @ngi packages
npx ngi serve        # serves ${name}/app.ts on http://127.0.0.1:8000
npx ngi serve --reload   # while developing: restarts on changes, shows errors in the browser
npm test             # runs ${name}/app.test.ts with the NGI test client
\`\`\`

- \`${name}/app.ts\` exports \`application\`, the site: an NGI application wrapped in middleware.
- \`${name}/settings.ts\` names it (\`APPLICATION\`) and holds the server's settings (\`BIND\`,
  \`WORKERS\`, …) and the site's own (\`GREETING\`), read with \`getSettings()\`.
- \`ngi serve --help\` lists every option; command-line flags win over \`NGI_*\` environment
  variables, which win over the settings module.
`;
}
