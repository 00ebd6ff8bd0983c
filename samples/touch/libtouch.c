/*
 * The library of the touch sample: 64 page functions g00..g3f (one page of code each). Its
 * constructor calls those listed in TOUCH_LIB_INIT ("0-3,9"), so a test knows which pages a
 * library touches before main, while ld.so still runs initializers.
 */
#include <stdlib.h>
#include "pages.h"

#define G(n) TOUCH_PAGE_FN(g, n)
TOUCH_R64(G)
/* A last page function that nothing calls: .fini and whatever follows .text share its page. */
TOUCH_PAGE_FN(gend_, 0)
#define GREF(n) g##n,
static int (*const gtable[64])(int) = {TOUCH_R64(GREF)};

long touch_lib_sum;

int touch_lib(const char *spec) { return (int)touch_spec(spec, gtable, 64, &touch_lib_sum); }

__attribute__((constructor)) static void touch_lib_init(void) {
  const char *s = getenv("TOUCH_LIB_INIT");
  if (s) touch_spec(s, gtable, 64, &touch_lib_sum);
}
