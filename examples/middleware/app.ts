import { compose, validator, type Application } from '@ngi/core';
import { withTiming } from './timing.ts';

const hello: Application = (environ, startResponse) => {
  startResponse('200 OK', [['content-type', 'text/plain']]);
  return [`hello from ${environ.PATH_INFO}\n`];
};

/** As in WSGI: `application = withTiming(application)`; `compose` stacks several, outermost first. */
export const application = compose(validator, withTiming)(hello);
