// SPDX-License-Identifier: GPL-2.0
#include "nvkms.hpp"

using namespace nvkms;

static Overlay b_overlay(1280, 720, 3);
static Surface *volatile b_plane = &b_overlay;

extern "C" int nvkms_b_run(int x)
{
    Surface *s = b_plane;
    *lane<1>() -= x;
    *lane<3>() += x;
    Ring<int, 16>::push(-x);
    Ring<unsigned long, 8>::push((unsigned long)x);
    **event_cursor() += 1;
    return s->flip(x) + primary_plane()->pitch() +
           clamp_to(x, -8, 8) + clamp_to<long>(x, 0, 99);
}

extern "C" const char *nvkms_b_describe(unsigned int idx)
{
    if (idx == 0)
        return *current_mode();
    if (idx == 1)
        return b_plane->kind();
    return pixel_formats()[idx % 5];
}

extern "C" void nvkms_exit(void)
{
    *current_mode() = "off";
    mlike_os_log(primary_plane()->kind());
}
