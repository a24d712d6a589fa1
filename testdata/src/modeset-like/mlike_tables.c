// SPDX-License-Identifier: GPL-2.0
/* String and pointer tables (data with many relocations). */
#include <linux/kernel.h>
#include <linux/module.h>

#include "mlike.h"

static const char *const mlike_modes[] = {
	"640x480", "800x600", "1024x768", "1280x720", "1920x1080", "2560x1440",
	"3840x2160",
};

struct mlike_op {
	const char *name;
	int (*fn)(int x);
	const char *const *mode;
};

static int op_hsync(int x) { return x + 44; }
static int op_vsync(int x) { return x + 5; }
static int op_scale(int x) { return x * 3 / 2; }

static const struct mlike_op mlike_ops[] = {
	{ "hsync", op_hsync, &mlike_modes[0] },
	{ "vsync", op_vsync, &mlike_modes[3] },
	{ "scale", op_scale, &mlike_modes[6] },
};

static struct mlike_op mlike_live_ops[] = {
	{ "scale", op_scale, &mlike_modes[4] },
	{ "hsync", op_hsync, &mlike_modes[5] },
};

int mlike_table_apply(int x)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(mlike_ops); i++)
		x = mlike_ops[i].fn(x) + (int)strlen(*mlike_ops[i].mode);
	for (i = 0; i < ARRAY_SIZE(mlike_live_ops); i++)
		x ^= mlike_live_ops[i].fn(x);
	return x;
}

const char *mlike_mode_name(unsigned int idx)
{
	return mlike_modes[idx % ARRAY_SIZE(mlike_modes)];
}
EXPORT_SYMBOL_GPL(mlike_mode_name);
