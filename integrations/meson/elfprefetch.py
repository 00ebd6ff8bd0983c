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
  order ORDER --elfprefetch CMD --profile P --format lld|gold|gnu-ld [--strict]
      from a custom_target with build_always_stale whose output is ORDER (name it PROGRAM.order),
      a link_depends of the program (docs/BUILD-SYSTEMS.md "Ordered link"): `elfprefetch order`,
      written to ORDER only when it changes, so that an unchanged profile does not relink (Meson's
      custom commands are `restat`). No profile: an empty order (for GNU ld a script that changes
      nothing), the program is linked in stock order, and a message says so. A profile `order`
      cannot use: a warning and the stock order; with --strict an error.
      With --format lld it also writes PROGRAM-rodata.ld beside ORDER (declare both as outputs):
      the script of the switch tables and string literals lld's symbol order cannot place
      (`--format lld-rodata`; link with -Wl,-T,PROGRAM-rodata.ld as well).
      With --training: ORDER is the script of `elfprefetch order --training` instead (link with
      -fuse-ld=bfd -Wl,-T,ORDER: the training link, every function on a page of its own, whose
      profile names just the functions start-up ran); failing to write it is an error.

Python 3 and the standard library only: it runs with the interpreter Meson itself runs on.
"""
import argparse
import filecmp
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


# Not an empty file for a script: GNU ld takes a -T script without INSERT as the whole linker script.
NO_ORDER = {'gnu-ld': '/* elfprefetch: no order (yet) */\nSECTIONS { .text.elfprefetch : { } } INSERT BEFORE .text;\n',
            'lld-rodata': '/* elfprefetch: no order (yet) */\nSECTIONS { .rodata.elfprefetch : { } } INSERT BEFORE .text;\n'}


def call(argv: list) -> int:
    """ARGV's exit status; 1 when it cannot run (said on stderr)."""
    try:
        return subprocess.call(argv)
    except OSError as e:
        print(f'elfprefetch: cannot run {argv[0]}: {e}', file=sys.stderr)
        return 1


def replace_if_changed(new: str, file: str) -> None:
    """FILE becomes NEW's text, and keeps its time when that is the same (no relink)."""
    if os.path.isfile(file) and filecmp.cmp(new, file, shallow=False):
        os.remove(new)
    else:
        os.replace(new, file)


def order(file: str, args: argparse.Namespace) -> int:
    """0 written or unchanged (stock order when there is no usable profile), 1 failed (strict)."""
    program = os.path.splitext(os.path.basename(file))[0]
    # FILE, and with lld its script of the read-only data, PROGRAM-rodata.ld: (path, no-order text).
    files = [(file, NO_ORDER.get(args.format, ''))]
    if args.format == 'lld' and not args.training:
        files.append((os.path.splitext(file)[0] + '-rodata.ld', NO_ORDER['lld-rodata']))

    def stock() -> None:
        for path, none in files:
            with open(path + '.new', 'w') as f:
                f.write(none)

    stock()
    if args.training:
        rc = call([args.elfprefetch, 'order', '--training', '-o', file + '.new'])
        if rc != 0:
            os.remove(file + '.new')
            print(f'elfprefetch: no training link script for {program} ({rc})', file=sys.stderr)
            return 1
        print(f'elfprefetch: {program} is a training link: record it (the run target '
              f'{program}-elfprefetch-train), then build without the training link')
    elif not os.path.isfile(args.profile):
        print(f'elfprefetch: no profile {args.profile}: {program} linked in stock order '
              f'(record one with the run target {program}-elfprefetch-train, then build again)')
    else:
        rc = call([args.elfprefetch, 'order', args.profile, '--format', args.format, '-o', file + '.new'])
        if rc == 0 and len(files) > 1:
            rc = call([args.elfprefetch, 'order', '-q', args.profile, '--format', 'lld-rodata', '-o', files[1][0] + '.new'])
        if rc != 0:
            if args.strict:
                for path, _ in files:
                    os.remove(path + '.new')
                print(f'elfprefetch: no order for {program} from {args.profile} ({rc}); failing (--strict)',
                      file=sys.stderr)
                return 1
            stock()
            print(f'elfprefetch: warning: no order for {program} from {args.profile} ({rc}); '
                  'linking it in stock order', file=sys.stderr)
    for path, _ in files:
        replace_if_changed(path + '.new', path)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('step', choices=['stamp', 'install-stamp', 'order'])
    p.add_argument('file')
    p.add_argument('--elfprefetch', default='elfprefetch', help='the elfprefetch command')
    p.add_argument('--profile', required=True, help='profile JSON kept in the source tree')
    p.add_argument('--stamp-file', help='stamp: file to write when done (the custom_target output)')
    p.add_argument('--format', choices=['lld', 'gold', 'gnu-ld'], help='order: the linker the order file is for')
    p.add_argument('--training', action='store_true', default=False, help='order: write the training link script instead')
    p.add_argument('--strict', action='store_true', default=False, help='a failing stamp (or order) fails the build')
    p.add_argument('--no-strict', dest='strict', action='store_false', help='a failing stamp (or order) is a warning (default)')
    args = p.parse_args()

    if args.step == 'order':
        if not args.format:
            p.error('order needs --format lld, gold or gnu-ld')
        return order(args.file, args)

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
