// SPDX-License-Identifier: GPL-2.0
/*
 * dkwrap fixture "modeset-like": like "basic", plus an OS-interface layer
 * for a prebuilt C++ object (the way nvidia-modeset.ko wraps
 * nv-modeset-kernel.o_binary).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/jump_label.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "mlike.h"

static int mlike_heads = 2;
module_param(mlike_heads, int, 0444);
MODULE_PARM_DESC(mlike_heads, "number of display heads");

static char *mlike_mode = "1920x1080";
module_param(mlike_mode, charp, 0444);
MODULE_PARM_DESC(mlike_mode, "initial mode");

static bool mlike_atomic;
module_param(mlike_atomic, bool, 0444);
MODULE_PARM_DESC(mlike_atomic, "enable the atomic path static key");

DEFINE_STATIC_KEY_FALSE(mlike_atomic_key);

int mlike_modeset(int head)
{
	if (static_branch_unlikely(&mlike_atomic_key))
		return nvkms_b_run(head);
	return nvkms_a_run(head) + mlike_table_apply(head);
}
EXPORT_SYMBOL_GPL(mlike_modeset);

const char *mlike_describe(unsigned int idx)
{
	return nvkms_b_describe(idx);
}
EXPORT_SYMBOL_GPL(mlike_describe);

void mlike_os_log(const char *msg)
{
	pr_info("nvkms: %s\n", msg);
}

void *mlike_os_alloc(unsigned long size)
{
	return kzalloc(size, GFP_KERNEL);
}

void mlike_os_free(void *ptr)
{
	kfree(ptr);
}

static int __init mlike_init(void)
{
	int ret;

	if (mlike_atomic)
		static_branch_enable(&mlike_atomic_key);
	ret = nvkms_a_init();
	if (ret)
		return ret;
	pr_info("loaded: %d heads, mode %s (%s), modeset(0)=%d\n",
		mlike_heads, mlike_mode, mlike_mode_name(mlike_heads),
		mlike_modeset(0));
	return 0;
}

static void __exit mlike_exit(void)
{
	nvkms_exit();
}

module_init(mlike_init);
module_exit(mlike_exit);

MODULE_LICENSE("GPL");
MODULE_VERSION("1.0");
MODULE_AUTHOR("dkwrap test fixtures");
MODULE_DESCRIPTION("dkwrap fixture: nvidia-modeset-like module with a prebuilt C++ object");
