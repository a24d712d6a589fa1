// SPDX-License-Identifier: GPL-2.0
/*
 * Freestanding C++ shared by nvkms_a.cpp and nvkms_b.cpp (the source of the
 * prebuilt nvkms-<flavour>.o_binary of the "modeset-like" fixture).
 *
 * Everything here is "vague linkage": inline functions with static locals,
 * classes whose virtual functions are all inline (so the vtable is emitted
 * in every TU that uses it), function templates and static data members of
 * class templates.  Each of them becomes a COMDAT section group; several
 * groups hold .data.* / .rodata.* / .bss.* members with relocations, which
 * the kernel's module.lds merges into one .data / .rodata / .bss under
 * CONFIG_LTO_CLANG.  No C++ runtime is needed (no RTTI, no exceptions, no
 * guards: every static is constant-initialised).
 */
#ifndef DKWRAP_NVKMS_HPP
#define DKWRAP_NVKMS_HPP

extern "C" {
void mlike_os_log(const char *msg);
void *mlike_os_alloc(unsigned long size);
void mlike_os_free(void *ptr);
}

namespace nvkms {

/* ---- inline functions with static locals ---------------------------- */

inline const char **current_mode()
{
    static const char *mode = "1920x1080@60";        /* .data + reloc */
    return &mode;
}

inline const char *const *pixel_formats()
{
    static const char *const names[] = {              /* .rodata + relocs */
        "XRGB8888", "ARGB8888", "RGB565", "NV12", "P010",
    };
    return names;
}

inline unsigned *frame_counter()
{
    static unsigned count;                            /* .bss */
    return &count;
}

inline unsigned **event_cursor()
{
    static unsigned events[8];                        /* .bss */
    static unsigned *cursor = &events[0];             /* .data + reloc */
    return &cursor;
}

/* ---- templates -------------------------------------------------------- */

template <typename T>
inline T clamp_to(T v, T lo, T hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

template <int N>
inline int *lane()
{
    static int slots[4];                              /* .bss */
    static int *p = &slots[N % 4];                    /* .data + reloc */
    return p;
}

template <typename T, int N>
struct Ring {
    static T slots[N];
    static T *head;                                   /* .data + reloc */
    static const char *name;                          /* .data + reloc */

    static void push(T v)
    {
        *head = v;
        head = (head + 1 == slots + N) ? slots : head + 1;
    }
};
template <typename T, int N> T Ring<T, N>::slots[N];
template <typename T, int N> T *Ring<T, N>::head = &Ring<T, N>::slots[0];
template <typename T, int N> const char *Ring<T, N>::name = "ring";

/* ---- classes with virtual functions (vtables in COMDAT groups) ------- */

class Surface {
public:
    constexpr Surface(int w, int h) : w_(w), h_(h) {}
    virtual int pitch() const { return w_ * 4; }
    virtual const char *kind() const { return "surface"; }
    virtual int flip(int frame) { return frame + w_; }
    int area() const { return w_ * h_; }

protected:
    int w_, h_;
};

class Cursor : public Surface {
public:
    constexpr Cursor(int size) : Surface(size, size) {}
    int pitch() const override { return w_ * 4 + 64; }
    const char *kind() const override { return "cursor"; }
};

class Overlay : public Surface {
public:
    constexpr Overlay(int w, int h, int fmt) : Surface(w, h), fmt_(fmt) {}
    const char *kind() const override { return pixel_formats()[fmt_ % 5]; }
    int flip(int frame) override
    {
        ++*frame_counter();
        return clamp_to(frame * 2, 0, 1 << 20) + fmt_;
    }

private:
    int fmt_;
};

inline Surface *primary_plane()
{
    static Overlay plane(1920, 1080, 0);              /* .data + vptr reloc */
    return &plane;
}

} // namespace nvkms

#endif
