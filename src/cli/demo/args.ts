/** Command-line arguments of the isolation demo. */

export interface Options {
  durationS: number;
  hostile: boolean;
  json: string | null;
}

export const USAGE = `usage: npm start -- [--duration <seconds>] [--no-hostile] [--json <path>]

  --duration <s>   how long the producers run, in seconds (default 20; from 1 to 86400)
  --no-hostile     leave out the hostile producer (blind retries)
  --json <path>    also write the summary as JSON to <path>
  -h, --help       show this text

Exit status: 0 when every check passes, 1 when one fails, 2 for bad arguments.`;

export class UsageError extends Error {}

/** Parse argv (without node and script); 'help' for -h/--help; throws UsageError otherwise. */
export function parseArgs(argv: readonly string[]): Options | 'help' {
  const o: Options = { durationS: 20, hostile: true, json: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      // Only another flag (--x) or nothing is a missing value: '-1' is a value, refused by its check.
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const noValue = (): void => {
      if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
    };
    switch (flag) {
      case '--duration': {
        const s = value();
        const d = Number(s);
        if (s.trim() === '' || !Number.isFinite(d) || d < 1 || d > 86_400) {
          throw new UsageError(`--duration must be a number of seconds from 1 to 86400; got '${s}'`);
        }
        o.durationS = d;
        break;
      }
      case '--no-hostile': noValue(); o.hostile = false; break;
      case '--json': {
        const v = value();
        if (v === '') throw new UsageError('--json needs a file path');
        o.json = v;
        break;
      }
      case '-h': case '--help': noValue(); return 'help';
      default: throw new UsageError(`unknown argument '${arg}'`);
    }
  }
  return o;
}
