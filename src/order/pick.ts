/*
 * Which object of a profile an order file is for: the program (main) unless the user names a
 * path or a build-id. Only objects with functions can be ordered; the error says how to get them.
 */
import { InvalidInputError } from '../errors';
import type { Profile, ProfileObject } from '../profile/schema';

/** The object `which` names (its path, its file name, or its build-id, or a prefix of it of 8+ hex digits); the program without it. */
export function pickObject(profile: Profile, which?: string): ProfileObject {
  const list = profile.objects.map((o) => `${o.path}${o.main ? ' (the program)' : ''}${o.buildId ? ` ${o.buildId}` : ''}`).join(', ');
  let found: ProfileObject | undefined;
  if (which === undefined) {
    found = profile.objects.find((o) => o.main);
    if (!found) throw new InvalidInputError(`the profile marks no object as the program; name one with --object (it has ${list})`);
  } else {
    const id = which.toLowerCase();
    const byId = /^[0-9a-f]{8,}$/.test(id) ? profile.objects.filter((o) => o.buildId.startsWith(id)) : [];
    const byPath = profile.objects.filter((o) => o.path === which || o.path.endsWith(`/${which}`));
    const matches = byId.length ? byId : byPath;
    if (matches.length > 1) throw new InvalidInputError(`--object ${which} names ${matches.length} objects of the profile: ${matches.map((o) => o.path).join(', ')}; give a full path or build-id`);
    found = matches[0];
    if (!found) throw new InvalidInputError(`--object ${which}: no such object in the profile (it has ${list})`);
  }
  if (!found.functions?.length) {
    throw new InvalidInputError(
      `the profile keeps no functions of ${found.path}, so there is nothing to order. ` +
        (found.main
          ? 'Record the program unstripped (a build with its .symtab, e.g. `elfprefetch record -o P.json -- ./app` on the linked, not yet stripped file): record keeps the functions on its pages'
          : `record keeps functions only of the program: record with \`--main ${found.path}\` to make the library the object whose functions are kept`),
    );
  }
  return found;
}
