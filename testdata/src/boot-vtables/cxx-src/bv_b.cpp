// SPDX-License-Identifier: GPL-2.0
#include "bv.hpp"

using namespace bv;

static Overlay b_overlay(1280, 720, 3);
static Cursor b_cursor(128);
static Surface *b_planes[] = { &b_overlay, &b_cursor };

/* Calls every virtual function of plane `x` (0: an Overlay, 1: a Cursor, 2: the primary
 * plane, an Overlay). */
extern "C" int bv_b_run(int x)
{
    Surface *s = x % 3 == 2 ? primary_plane() : b_planes[x % 3];
    *lane<2>() += x;
    Ring<unsigned long, 8>::push((unsigned long)x);
    s->kind();
    int p = s->pitch();
    int f = s->flip(x);
    return p + f + s->area() % 7;
}

extern "C" const char *bv_b_mode(void)
{
    return *current_mode();
}
