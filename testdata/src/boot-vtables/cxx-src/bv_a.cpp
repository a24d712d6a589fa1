// SPDX-License-Identifier: GPL-2.0
#include "bv.hpp"

using namespace bv;

static Cursor a_cursor(64);
static Surface a_surface(640, 480);
static Surface *a_planes[] = { &a_cursor, &a_surface };

extern "C" void bv_a_init(void)
{
    Ring<int, 16>::push(1);
    Ring<unsigned long, 8>::push(2);
    *event_cursor() = *event_cursor() + 1;
    bv_called(*current_mode(), 0);
}

/* Calls every virtual function of plane `x` (0: a Cursor, 1: a Surface). */
extern "C" int bv_a_run(int x)
{
    Surface *s = a_planes[x & 1];
    *lane<1>() += x;
    Ring<int, 16>::push(x);
    /* One call per statement: the order of the calls is what the module checks. */
    s->kind();
    int p = s->pitch();
    int f = s->flip(x);
    return p + f + clamp_to(x, 0, 4096) + (int)*frame_counter();
}
