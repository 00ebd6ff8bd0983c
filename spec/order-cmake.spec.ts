// The two-stage ordered build of the CMake integration (elfprefetch_order in
// integrations/cmake/ElfPrefetch.cmake, docs/BUILD-SYSTEMS.md "Ordered link") on the CMake
// sample's `scatter` (-DSAMPLE_ORDERED_LINK=lld|gold|gnu-ld); the stages and checks are in
// spec/helpers/ordered-build.ts.
import { twoStageBuilds } from './helpers/ordered-build';

twoStageBuilds({
  project: 'cmake',
  profile: 'profiles/scatter.profile.json',
  configure: (src, build, linker) => [['cmake', '-S', src, '-B', build, '-G', 'Ninja', `-DSAMPLE_ORDERED_LINK=${linker}`, '-DELFPREFETCH_TRAIN_ARGS=--runs;1']],
  build: (_src, build) => ['cmake', '--build', build],
  train: (_src, build) => ['cmake', '--build', build, '--target', 'scatter-elfprefetch-train'],
  strict: { configure: (src, build) => [['cmake', '-S', src, '-B', build, '-DELFPREFETCH_STRICT=ON']] },
  linking: /Linking C executable scatter/,
});
