// SPDX-License-Identifier: GPL-2.0
/*
 * dkwrap fixture "basic": module parameters, exported GPL symbols, a
 * static key, and an OS-interface layer for a prebuilt blob.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/jump_label.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "basic.h"

static int basic_level = 3;
module_param(basic_level, int, 0644);
MODULE_PARM_DESC(basic_level, "verbosity level (0-7)");

static char *basic_name = "dkwrap";
module_param(basic_name, charp, 0444);
MODULE_PARM_DESC(basic_name, "name printed at load time");

static bool basic_fast;
module_param(basic_fast, bool, 0444);
MODULE_PARM_DESC(basic_fast, "enable the fast path static key");

DEFINE_STATIC_KEY_FALSE(basic_fast_key);

int basic_compute(int x)
{
	if (static_branch_unlikely(&basic_fast_key))
		return x << 1;
	return basic_table_apply(x) + (int)blob_checksum(&x, sizeof(x));
}
EXPORT_SYMBOL_GPL(basic_compute);

int basic_get_level(void)
{
	return basic_level;
}
EXPORT_SYMBOL_GPL(basic_get_level);

void basic_os_log(const char *msg)
{
	if (basic_level > 2)
		pr_info("blob: %s\n", msg);
}

void *basic_os_alloc(unsigned long size)
{
	return kzalloc(size, GFP_KERNEL);
}

void basic_os_free(void *ptr)
{
	kfree(ptr);
}

static int __init basic_init(void)
{
	int ret;

	if (basic_fast)
		static_branch_enable(&basic_fast_key);
	ret = blob_init();
	if (ret)
		return ret;
	pr_info("loaded (%s, %s, compute(7)=%d)\n", basic_name,
		basic_name_of(basic_level), basic_compute(7));
	return 0;
}

static void __exit basic_exit(void)
{
	blob_exit();
	pr_info("unloaded: %s\n", blob_message(0));
}

module_init(basic_init);
module_exit(basic_exit);

MODULE_LICENSE("GPL");
MODULE_VERSION("1.0");
MODULE_AUTHOR("dkwrap test fixtures");
MODULE_DESCRIPTION("dkwrap fixture: params, exports, static key, prebuilt blob");
