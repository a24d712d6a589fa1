// SPDX-License-Identifier: MIT
/*
 * A stand-in for NVIDIA's nvidia.ko in the `dkwrap doctor` test trees: a real module,
 * built by kbuild against a real kernel tree, that does nothing. Only its .modinfo
 * matters to doctor; scripts/doctor-fixtures.sh rewrites version, srcversion, vermagic
 * and firmware there for each scenario.
 */
#include <linux/init.h>
#include <linux/module.h>

static int __init nvidia_stub_init(void)
{
	return 0;
}

static void __exit nvidia_stub_exit(void)
{
}

module_init(nvidia_stub_init);
module_exit(nvidia_stub_exit);

MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("dkwrap doctor fixture standing in for nvidia.ko");
MODULE_VERSION("0.0.0");
MODULE_FIRMWARE("nvidia/0.0.0/gsp_ga10x.bin");
MODULE_FIRMWARE("nvidia/0.0.0/gsp_tu10x.bin");
