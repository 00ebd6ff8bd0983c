import type { Argv, CommandModule } from 'yargs';
import { EXIT } from '../exit';
import { Io, guard } from '../guard';

interface Args {
  dir: string;
  profiles?: string[];
  json: boolean;
}

export function profilesCommand(io: Io, setCode: (c: number) => void): CommandModule<object, Args> {
  return {
    command: 'profiles <action>',
    describe: 'Keep profiles by build-id in a profile directory, for stamp-tree',
    builder: (y: Argv) =>
      y
        .command({
          command: 'add <dir> <profiles..>',
          describe: 'File recorded profiles into DIR: each object under its build-id, runs added up',
          builder: (z: Argv) =>
            z
              .positional('dir', { type: 'string', demandOption: true, describe: 'the profile directory (created if missing)' })
              .positional('profiles', { type: 'string', array: true, demandOption: true, describe: 'profiles written by `elfprefetch record` or `train -o`' })
              .option('json', { type: 'boolean', default: false }),
          handler: async (a: Args) => {
            setCode(
              await guard(io, undefined, async () => {
                const { parseProfile } = await import('../../src/profile/schema');
                const { fileProfile } = await import('../../src/profile/store');
                const { readRegular } = await import('../../src/io/regular');
                const all = [];
                for (const p of a.profiles ?? []) {
                  const filed = fileProfile(a.dir, parseProfile(readRegular(p, 'profile').toString('utf8'), p));
                  all.push(...filed.map((f) => ({ profile: p, ...f })));
                }
                if (a.json) io.out(JSON.stringify(all));
                else for (const f of all) io.out(f.entry ? `${f.path} (${f.buildId}): ${f.entry}, ${f.runs} runs` : `${f.path}: not filed: ${f.skipped}`);
                return EXIT.ok;
              }),
            );
          },
        })
        .command({
          command: 'list <dir>',
          describe: 'List the builds DIR has profiles for',
          builder: (z: Argv) => z.positional('dir', { type: 'string', demandOption: true }).option('json', { type: 'boolean', default: false }),
          handler: async (a: Args) => {
            setCode(
              await guard(io, a.dir, async () => {
                const { listProfiles, lookupProfile } = await import('../../src/profile/store');
                const rows = listProfiles(a.dir).map((e) => {
                  const p = lookupProfile(a.dir, e.buildId)!.profile;
                  const main = p.objects[0]!;
                  return { buildId: e.buildId, path: main.path, runs: p.runs, libraries: p.objects.length - 1, entry: e.path };
                });
                if (a.json) io.out(JSON.stringify(rows));
                else for (const r of rows) io.out(`${r.buildId}  ${r.path}  ${r.runs} runs${r.libraries ? `, ${r.libraries} libraries` : ''}`);
                return EXIT.ok;
              }),
            );
          },
        })
        .demandCommand(1, 'Name an action: add or list.') as never,
    handler: () => {},
  };
}
