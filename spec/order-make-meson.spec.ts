// The two-stage ordered build of the make and Meson integrations (elfprefetch_order in
// integrations/make/elfprefetch.mk, the `order` step of integrations/meson/elfprefetch.py,
// docs/BUILD-SYSTEMS.md "Ordered link") on their samples' `scatter`; the stages and checks are
// those of the CMake sample, in spec/helpers/ordered-build.ts.
import * as path from 'node:path';
import { twoStageBuilds } from './helpers/ordered-build';

const make = (src: string, linker: string): string[] => ['make', '-f', path.join(src, 'Makefile'), `ELFPREFETCH_ORDER_LINKER=${linker}`];

twoStageBuilds({
  project: 'make',
  profile: 'scatter.profile.json',
  configure: () => [],
  build: (src, _build, linker) => [...make(src, linker), 'scatter'],
  train: (src, _build, linker) => [...make(src, linker), 'scatter-train', 'ELFPREFETCH_TRAIN_ARGS=--runs 1'],
  strict: { build: ['ELFPREFETCH_STRICT=1'] },
  linking: /-o scatter scatter\.o/,
});

twoStageBuilds({
  project: 'meson',
  profile: 'scatter.profile.json',
  configure: (src, build, linker) => [['meson', 'setup', `-Dsample_ordered_link=${linker}`, '-Delfprefetch_train_args=--runs,1', build, src]],
  build: (_src, build) => ['ninja', '-C', build],
  train: (_src, build) => ['ninja', '-C', build, 'scatter-elfprefetch-train'],
  strict: { configure: (_src, build) => [['meson', 'configure', '-Delfprefetch_strict=true', build]] },
  linking: /Linking target scatter/,
});
