// SPDX-License-Identifier: GPL-2.0
/*
 * Source of the prebuilt blob linked into "basic" as blob.o (from
 * blob-<flavour>.o_binary), like NVIDIA's OS-agnostic nv-kernel.o_binary.
 * It uses no kernel headers; it only calls back into the module's OS
 * interface (basic_os_*).  scripts/fixtures.sh compiles it to a NATIVE
 * object with the kernel's flags (LTO and ftrace flags removed).
 */
extern void basic_os_log(const char *msg);
extern void *basic_os_alloc(unsigned long size);
extern void basic_os_free(void *ptr);

static const char *const blob_messages[] = {
	"blob ready", "blob busy", "blob gone", "checksum mismatch",
};

struct blob_state {
	unsigned int seed;
	unsigned int *scratch;
	const char *const *msgs;
};

static struct blob_state blob_state = { 0x9e3779b9u, 0, blob_messages };

static unsigned int blob_mix(unsigned int h, unsigned char c)
{
	return (h ^ c) * 16777619u;
}

struct blob_ops {
	unsigned int (*mix)(unsigned int h, unsigned char c);
	const char *name;
};

static const struct blob_ops blob_default_ops = { blob_mix, "fnv1a" };
static const struct blob_ops *volatile blob_ops = &blob_default_ops;

unsigned int blob_checksum(const void *buf, unsigned long len)
{
	const unsigned char *p = buf;
	unsigned int h = blob_state.seed;

	while (len--)
		h = blob_ops->mix(h, *p++);
	return h;
}

const char *blob_message(unsigned int idx)
{
	return blob_state.msgs[idx & 3];
}

int blob_init(void)
{
	blob_state.scratch = basic_os_alloc(64 * sizeof(unsigned int));
	if (!blob_state.scratch) {
		basic_os_log(blob_messages[3]);
		return -12; /* -ENOMEM */
	}
	basic_os_log(blob_message(0));
	return 0;
}

void blob_exit(void)
{
	basic_os_free(blob_state.scratch);
	blob_state.scratch = 0;
	basic_os_log(blob_message(2));
}
