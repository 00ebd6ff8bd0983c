#!/usr/bin/perl
# debhelper sequence add-on: `dh $@ --with elfprefetch` (or Build-Depends: dh-sequence-elfprefetch
# once elfprefetch is packaged) runs dh_elfprefetch right after dh_strip, so the notes describe
# the stripped files and dh_makeshlibs, dh_shlibdeps and dh_md5sums see the stamped ones.

use strict;
use warnings;
use Debian::Debhelper::Dh_Lib;

insert_after('dh_strip', 'dh_elfprefetch');

1;
