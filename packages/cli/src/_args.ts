import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './_errors.ts';
import { OPTIONS, settingName, type OptionSpec } from './_options.ts';
import type { CommandLine } from './_config.ts';

type Flags = NonNullable<ParseArgsConfig['options']>;

/** The flags of `ngi serve`: every option of `_options.ts`, plus the ones only a command line has. */
function serveFlags(): Flags {
  const flags: Flags = {
    settings: { type: 'string' },
    check: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const spec of Object.values(OPTIONS) as OptionSpec[]) {
    flags[spec.flag] = {
      type: spec.type === 'boolean' ? 'boolean' : 'string',
      ...(spec.type === 'list' ? { multiple: true } : {}),
      ...(spec.short ? { short: spec.short } : {}),
    };
  }
  return flags;
}

/** Parses `ngi serve`'s arguments; a mistake is a one-line UsageError. */
export function parseServeArgs(args: readonly string[]): CommandLine & { check: boolean; help: boolean } {
  const { values, positionals } = parse(args, serveFlags(), 1);
  return { values, module: positionals[0], check: values.check === true, help: values.help === true };
}

/** Parses `ngi new`'s arguments. */
export function parseNewArgs(args: readonly string[]): { name: string | undefined; help: boolean } {
  const { values, positionals } = parse(args, { help: { type: 'boolean', short: 'h' } }, 1);
  return { name: positionals[0], help: values.help === true };
}

function parse(args: readonly string[], options: Flags, maxPositionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  return parsed as { values: CommandLine['values']; positionals: string[] };
}

/** Node's parseArgs messages, shortened to what the user needs. */
function describeParseError(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  const option = /--[\w-]+/.exec(message)?.[0] ?? /'(-\w)/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${option ?? ''}`.trimEnd();
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (message.includes('argument missing')) return `option ${option ?? ''} needs a value`;
    // `--timeout -1`: parseArgs takes `-1` for an option, not for the value.
    if (message.includes('ambiguous')) return `option ${option ?? ''} needs a value (write a value starting with "-" as ${option ?? ''}=VALUE)`;
    return `option ${option ?? ''} takes no value`;
  }
  return message;
}

export const MAIN_HELP = `Usage: ngi <command> [options]

Commands:
  serve [MODULE[:EXPORT]]   serve an NGI application (see ngi serve --help)
  new NAME                  write a new project in ./NAME

Options:
  -h, --help                show this help
  -V, --version             show the version
`;

export const NEW_HELP = `Usage: ngi new NAME

Writes a runnable project in ./NAME: package.json, NAME/app.ts (the application),
NAME/settings.ts (APPLICATION and other settings) and a README. Refuses to
overwrite an existing directory.
`;

/** `ngi serve --help`, generated from the option table so it cannot drift from it. */
export function serveHelp(): string {
  const rows = (Object.values(OPTIONS) as OptionSpec[]).map((spec) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${spec.flag}${spec.arg ? ` ${spec.arg}` : ''}`;
    return `  ${flag.padEnd(34)}${spec.help}\n${' '.repeat(36)}(env NGI_${settingName(spec)}, setting ${settingName(spec)})`;
  });
  return `Usage: ngi serve [MODULE[:EXPORT]] [options]

Serves the application exported as EXPORT (default "application", then "default") by
MODULE (.ts, .mts, .cts, .js, .mjs or .cjs). Without MODULE, the APPLICATION setting of
the settings module names it. Precedence: command line > environment > settings module >
defaults.

      --settings MODULE             the settings module (env NGI_SETTINGS_MODULE; default the
                                    "ngi.settings" of ./package.json, else ./settings)
      --check                       check the configuration and the application, then exit
${rows.join('\n')}
  -h, --help                        show this help

Signals: TERM drains and exits, INT (or QUIT) stops quickly (a second INT forces), HUP
replaces the workers one by one, TTIN/TTOU add/remove a worker, USR1 reopens the access log.
`;
}
