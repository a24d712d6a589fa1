// SPDX-License-Identifier: GPL-2.0
/*
 * Freestanding C++ of the "boot-vtables" fixture (bv_a.cpp, bv_b.cpp; built into
 * bv_cxx.o_binary by scripts/boot-ltokernel.sh, the way NVIDIA ships nv-modeset-kernel.o).
 *
 * The same vague-linkage shapes as the modeset-like fixture: inline functions with static
 * locals, templates with static data members, and classes whose virtual functions are all
 * inline, so every vtable is a COMDAT group in each TU. ld.lld -r of a ThinLTO module merges
 * them into one .rodata / .data with several .rela sections: the shape GNU strip 2.43.1
 * rewrites wrongly. Each virtual function reports its own name, so a vtable slot that points
 * at the wrong code shows up as a wrong name (or a crash) when the module's init runs.
 */
#ifndef DKWRAP_BV_HPP
#define DKWRAP_BV_HPP

extern "C" {
/* Says that the function `name` ran; returns its argument so calls can chain. */
int bv_called(const char *name, int value);
}

namespace bv {

inline const char **current_mode()
{
    static const char *mode = "1920x1080@60";
    return &mode;
}

inline const char *const *pixel_formats()
{
    static const char *const names[] = {
        "XRGB8888", "ARGB8888", "RGB565", "NV12", "P010",
    };
    return names;
}

inline unsigned *frame_counter()
{
    static unsigned count;
    return &count;
}

inline unsigned **event_cursor()
{
    static unsigned events[8];
    static unsigned *cursor = &events[0];
    return &cursor;
}

template <typename T>
inline T clamp_to(T v, T lo, T hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

template <int N>
inline int *lane()
{
    static int slots[4];
    static int *p = &slots[N % 4];
    return p;
}

template <typename T, int N>
struct Ring {
    static T slots[N];
    static T *head;
    static const char *name;

    static void push(T v)
    {
        *head = v;
        head = (head + 1 == slots + N) ? slots : head + 1;
    }
};
template <typename T, int N> T Ring<T, N>::slots[N];
template <typename T, int N> T *Ring<T, N>::head = &Ring<T, N>::slots[0];
template <typename T, int N> const char *Ring<T, N>::name = "ring";

class Surface {
public:
    constexpr Surface(int w, int h) : w_(w), h_(h) {}
    virtual int pitch() const { return bv_called("Surface::pitch", w_ * 4); }
    virtual const char *kind() const { bv_called("Surface::kind", 0); return "surface"; }
    virtual int flip(int frame) { return bv_called("Surface::flip", frame + w_); }
    int area() const { return w_ * h_; }

protected:
    int w_, h_;
};

class Cursor : public Surface {
public:
    constexpr Cursor(int size) : Surface(size, size) {}
    int pitch() const override { return bv_called("Cursor::pitch", w_ * 4 + 64); }
    const char *kind() const override { bv_called("Cursor::kind", 0); return "cursor"; }
};

class Overlay : public Surface {
public:
    constexpr Overlay(int w, int h, int fmt) : Surface(w, h), fmt_(fmt) {}
    const char *kind() const override
    {
        bv_called("Overlay::kind", fmt_);
        return pixel_formats()[fmt_ % 5];
    }
    int flip(int frame) override
    {
        ++*frame_counter();
        return bv_called("Overlay::flip", clamp_to(frame * 2, 0, 1 << 20) + fmt_);
    }

private:
    int fmt_;
};

inline Surface *primary_plane()
{
    static Overlay plane(1920, 1080, 0);
    return &plane;
}

} // namespace bv

#endif
