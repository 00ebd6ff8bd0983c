#!/usr/bin/env python3
"""elfprefetch steps for Meson builds (docs/BUILD-SYSTEMS.md, integrations/meson/README.md).

Meson has no post-link step and no functions, so its meson.build calls this script:

  stamp FILE --elfprefetch CMD --profile P --stamp-file OUT [--strict]
      from a custom_target whose input is the linked FILE: stamps FILE in place from the profile
      kept in the source tree (`elfprefetch stamp --carry-over`), then writes OUT (the target's
      output, so ninja knows the step is done; not written when FILE was not stamped, so the step
      runs again at the next build). No profile: a message, FILE stays as linked.
      A failing stamp leaves FILE exactly as linked (stamp replaces files atomically) and is a
      warning; with --strict it is an error and FILE is removed, so the next build links it again.
  install-stamp RELPATH --elfprefetch CMD --profile P [--strict]
      from meson.add_install_script: stamps the installed copy, $MESON_INSTALL_DESTDIR_PREFIX/RELPATH,
      again (meson rewrites the RPATH of what it installs, which makes the note stale).

Python 3 and the standard library only: it runs with the interpreter Meson itself runs on.
"""
import argparse
import os
import subprocess
import sys


def stamp(file: str, args: argparse.Namespace) -> int:
    """0 stamped, 1 failed (strict), 2 not stamped (no profile, or failed and not strict)."""
    if not os.path.isfile(args.profile):
        print(f'elfprefetch: no profile {args.profile}: {file} left unstamped '
              '(record one with the *-elfprefetch-train run target)')
        return 2
    cmd = [args.elfprefetch, 'stamp', file, '--profile', args.profile, '--carry-over']
    try:
        rc = subprocess.call(cmd)
    except OSError as e:
        print(f'elfprefetch: cannot run {args.elfprefetch}: {e}', file=sys.stderr)
        rc = 1
    if rc == 0:
        return 0
    if args.strict:
        try:
            os.remove(file)
        except FileNotFoundError:
            pass
        print(f'elfprefetch: stamping {file} from {args.profile} failed ({rc}); removed it (--strict)',
              file=sys.stderr)
        return 1
    print(f'elfprefetch: warning: stamping {file} from {args.profile} failed ({rc}); '
          'it is left exactly as linked, without prefetch note', file=sys.stderr)
    return 2


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('step', choices=['stamp', 'install-stamp'])
    p.add_argument('file')
    p.add_argument('--elfprefetch', default='elfprefetch', help='the elfprefetch command')
    p.add_argument('--profile', required=True, help='profile JSON kept in the source tree')
    p.add_argument('--stamp-file', help='stamp: file to write when done (the custom_target output)')
    p.add_argument('--strict', action='store_true', default=False, help='a failing stamp fails the build')
    p.add_argument('--no-strict', dest='strict', action='store_false', help='a failing stamp is a warning (default)')
    args = p.parse_args()

    if args.step == 'install-stamp':
        prefix = os.environ.get('MESON_INSTALL_DESTDIR_PREFIX')
        if not prefix:
            p.error('install-stamp runs from meson.add_install_script (MESON_INSTALL_DESTDIR_PREFIX is not set)')
        if os.path.isabs(args.file):  # e.g. --bindir outside the prefix: DESTDIR still applies
            base = os.environ.get('MESON_INSTALL_PREFIX', '')
            destdir = prefix[:len(prefix) - len(base)] if base and prefix.endswith(base) else ''
            path = destdir + args.file
        else:
            path = os.path.join(prefix, args.file)
        return 1 if stamp(path, args) == 1 else 0

    rc = stamp(args.file, args)
    # The stamp file is written only when the file was stamped: without it ninja runs this step
    # again at the next build, so a profile added later (or a fixed failure) is picked up.
    if rc == 0 and args.stamp_file:
        with open(args.stamp_file, 'w') as f:
            f.write(f'{args.file} stamped from {args.profile}\n')
    return 1 if rc == 1 else 0


if __name__ == '__main__':
    sys.exit(main())
