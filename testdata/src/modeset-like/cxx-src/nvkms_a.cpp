// SPDX-License-Identifier: GPL-2.0
#include "nvkms.hpp"

using namespace nvkms;

static Cursor a_cursor(64);
static Cursor a_big_cursor(256);
static Surface *a_planes[] = { &a_cursor, &a_big_cursor };

extern "C" int nvkms_a_init(void)
{
    Ring<int, 16>::push(1);
    Ring<unsigned long, 8>::push(2);
    *event_cursor() = *event_cursor() + 1;
    mlike_os_log(*current_mode());
    mlike_os_log(Ring<int, 16>::name);
    return 0;
}

extern "C" int nvkms_a_run(int x)
{
    Surface *s = a_planes[x & 1];
    *lane<1>() += x;
    *lane<2>() += x;
    Ring<int, 16>::push(x);
    return s->pitch() + s->flip(x) + primary_plane()->flip(x) +
           clamp_to(x, 0, 4096) + (int)*frame_counter();
}
