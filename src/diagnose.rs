//! Known build-failure signatures: recognise a line of make output or of a dkms make.log and
//! say its cause and fix. The one place for signatures, shared by `make` (which scans the
//! build as it streams), `doctor` (which reads saved make.log files) and `explain` (which
//! reads any saved log and counts every recognised line). [`bfd`] knows where binutils'
//! `BFD ... assertion fail elf.c:NNNN` points.
//!
//! The table is data: one [`Signature`] per known message, each with a regular expression,
//! a cause and a fix. Cause and fix may name the expression's capture groups (`$tool`,
//! `${flag}`), filled in from the matching line. Every message in the table was seen in a
//! real build (dkms 3.0.10, clang-19 ThinLTO and GCC kernels, NVIDIA open-gpu-kernel-modules
//! 595.45.04, GNU binutils 2.40 and 2.43.1); the unit tests below quote them.

pub mod bfd;

use std::sync::OnceLock;

use regex::{Regex, RegexSet};
use serde::Serialize;

/// How bad a recognised message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The build failed, or produced a broken module (even if it exited 0).
    Error,
    /// The build may still work; the message explains a likely later failure.
    Warning,
}

/// One recognised failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Stable identifier, e.g. "gnu-strip-bfd-assertion".
    pub id: &'static str,
    /// The output line that matched.
    pub line: String,
    pub cause: String,
    pub fix: String,
    /// 1-based number of the matching line in the scanned text.
    pub line_number: usize,
    pub severity: Severity,
}

/// A known failure signature: a row of the diagnosis table.
#[derive(Debug, Clone, Copy)]
pub struct Signature {
    pub id: &'static str,
    /// Regular expression matched against each line (anywhere in the line).
    pub pattern: &'static str,
    pub severity: Severity,
    /// Cause; `$name` / `${name}` expand to the pattern's named capture groups.
    pub cause: &'static str,
    /// Fix; capture groups expand as in `cause`.
    pub fix: &'static str,
}

const STRIP_FIX: &str =
    "do not run GNU strip on modules linked by ld.lld: set STRIP[*]=no in dkms.conf and \
     build through `dkwrap make` (it strips with the kernel's llvm-strip and verifies the result; \
     see dkwrap's dkms-conf/), or strip with `dkwrap strip`. Rebuild and reinstall the module: \
     the one dkms installed is damaged even though dkms reported success";

const LLVM_TOOLCHAIN_FIX: &str =
    "build with the kernel's own LLVM toolchain on the make command line \
     (command-line variables beat the Makefile's `?=` defaults and assignments): \
     `dkwrap make -- make ...` passes LLVM=-19 CC=clang-19 CXX=clang++-19 LD=ld.lld-19 \
     OBJCOPY=llvm-objcopy-19 AR/NM/STRIP/OBJDUMP/READELF to match the kernel";

/// The diagnosis table. Order matters only for display: diagnoses are reported in the order
/// their lines appear in the output.
pub const SIGNATURES: &[Signature] = &[
    Signature {
        id: "gnu-bfd-assertion",
        pattern: r"BFD \((?P<binutils>GNU Binutils[^)]*)\) (?P<version>[0-9][0-9.]*) assertion fail (?P<where>\S+)",
        severity: Severity::Error,
        cause: "GNU binutils ($binutils $version: strip or objcopy) hit an internal assertion ($where) on a \
                module layout it does not handle (ld.lld -r output of a ThinLTO kernel: section groups, \
                relocation sections). It exits 0 anyway and writes relocations that point at the wrong \
                sections or functions (measured: .data relocations into .bss, 349 .rodata relocations \
                to wrong functions); dkms then signs and installs that module",
        fix: STRIP_FIX,
    },
    Signature {
        id: "gnu-strip-invalid-group-entry",
        pattern: r"invalid entry \((?P<entry>0x[0-9a-fA-F]+)\) in group \[(?P<group>[0-9]+)\]",
        severity: Severity::Error,
        cause: "GNU strip/objcopy (binutils 2.43 and later) found section $entry listed in section \
                group [$group] although an earlier group already lists it (ld.lld puts the merged \
                .data/.rodata/.bss of a ThinLTO module in many groups). BFD keeps a section in one \
                group only, drops it from [$group], exits 0, and writes groups and relocations that \
                point at the wrong sections (`dkwrap explain LOG MODULE` names both groups)",
        fix: STRIP_FIX,
    },
    Signature {
        id: "gnu-strip-format-not-recognized",
        pattern: r"(?:^|[\s/])(?:[a-z0-9_]+-linux-gnu-)?strip: (?P<file>\S+): file format not recognized",
        severity: Severity::Warning,
        cause: "GNU strip (binutils 2.40 and older) refuses $file, a module linked by ld.lld for a \
                clang/ThinLTO kernel; dkms ignores strip's failure and installs the module unstripped \
                (intact, but with its debug information). A newer GNU strip does not refuse it: it \
                corrupts it",
        fix: STRIP_FIX,
    },
    Signature {
        id: "gnu-strip-foreign-format",
        pattern: r"(?:^|[\s/])(?:[a-z0-9_]+-linux-gnu-)?(?P<tool>strip|objcopy): Unable to recognise the format of the input file [`'‘](?P<file>[^'’]+)['’]",
        severity: Severity::Warning,
        cause: "GNU $tool cannot read $file at all: this binutils was built for another architecture \
                than the file's (an arm64 module handed to the x86-64 host's strip). dkms ignores \
                strip's failure and installs the module unstripped",
        fix: "strip with a tool that reads the module's architecture: llvm-strip reads them all \
              (`dkwrap strip` picks it and proves the result); a cross GNU strip reads it but has \
              the same group bugs on ThinLTO modules",
    },
    Signature {
        id: "gnu-bfd-group-without-members",
        pattern: r"SHT_GROUP section \[index (?P<group>[0-9]+)\] has no SHF_GROUP sections",
        severity: Severity::Warning,
        cause: "GNU binutils (BFD) found section group [$group] without members of its own: each \
                of its members (a merged .data/.rodata/.bss of an ld.lld module) was already \
                claimed by an earlier group, because BFD keeps a section in one group only. \
                binutils 2.40 then refuses the file (`file format not recognized`)",
        fix: STRIP_FIX,
    },
    Signature {
        id: "gnu-objcopy-format-not-recognized",
        pattern: r"(?:^|[\s/])(?:[a-z0-9_]+-linux-gnu-)?objcopy: (?P<file>\S+?):? file format not recognized",
        severity: Severity::Error,
        cause: "GNU objcopy was run on $file, built by clang for a clang/ThinLTO kernel (the kernel's BTF \
                step runs $(OBJCOPY) on every module). The package's Makefile set OBJCOPY=objcopy (or \
                LLVM= was not passed), so the build mixed GNU and LLVM tools",
        fix: LLVM_TOOLCHAIN_FIX,
    },
    Signature {
        id: "gnu-ld-format-not-recognized",
        pattern: r"(?:^|[\s/])(?:[a-z0-9_]+-linux-gnu-)?ld(?:\.bfd)?: (?P<file>\S+?):? file (?:format )?not recognized",
        severity: Severity::Error,
        cause: "GNU ld was asked to link $file, an LLVM bitcode object (clang ThinLTO); only ld.lld can link \
                it. The package's Makefile set LD=ld (NVIDIA's kernel-open/Makefile does: `LD ?= ld`)",
        fix: LLVM_TOOLCHAIN_FIX,
    },
    Signature {
        id: "gnu-ld-emulation-llvm",
        pattern: r"unrecognised emulation mode: llvm",
        severity: Severity::Error,
        cause: "GNU ld is linking for a clang LTO kernel: the kernel passes `-mllvm ...` to the linker, which \
                ld.lld understands and GNU ld reads as `-m llvm` (an emulation). NVIDIA's \
                kernel-open/Makefile forces \"LD=$(LD)\" with `LD ?= ld` into Kbuild, so LLVM= alone does \
                not help",
        fix: "pass LD=ld.lld-19 (the kernel's ld.lld) on the make command line, not only LLVM=: \
              `dkwrap make -- make ...` does",
    },
    Signature {
        id: "btf-encode-failed",
        pattern: r"btf_encoder__write_elf|Failed to encode BTF",
        severity: Severity::Error,
        cause: "pahole could not add the .BTF section to the module: it runs $(OBJCOPY) on the module, and \
                a GNU objcopy cannot read a module built by clang (see any `objcopy: ... file format not \
                recognized` line above), or pahole is too old for the compiler's DWARF",
        fix: "build with the kernel's LLVM toolchain (OBJCOPY=llvm-objcopy-19; `dkwrap make` passes it); if \
              the objcopy is already LLVM's, install a pahole (package dwarves) at least as new as the one \
              that built the kernel",
    },
    Signature {
        id: "pahole-missing",
        pattern: r"(?:^|[\s/:])pahole: (?:\d+: )?(?:not found|No such file or directory|command not found)|: pahole: not found",
        severity: Severity::Error,
        cause: "the kernel has CONFIG_DEBUG_INFO_BTF_MODULES=y, so every module gets BTF from pahole, and \
                pahole is not installed",
        fix: "install pahole: Debian/Ubuntu `apt install dwarves`, Fedora `dnf install dwarves`, Arch \
              `pacman -S pahole`",
    },
    Signature {
        id: "btf-vmlinux-missing",
        pattern: r"Skipping BTF generation for \S+ due to unavailability of vmlinux",
        severity: Severity::Warning,
        cause: "the kernel build directory has no vmlinux, so the module is built without BTF (harmless for \
                loading; BPF tools will not see the module's types)",
        fix: "nothing needed; for BTF, install the headers package that ships vmlinux (Debian: \
              linux-headers-*, Ubuntu: linux-headers-* with vmlinux in /usr/src)",
    },
    Signature {
        id: "llvm-tool-not-found",
        pattern: r"(?:^|\s)(?:make(?:\[[0-9]+\])?|/bin/sh|sh|bash)?:?\s*(?:[0-9]+: )?(?P<tool>clang\+\+|clang|ld\.lld|llvm-[a-z]+)(?P<suffix>-[0-9]+)?: (?:No such file or directory|not found|command not found)",
        severity: Severity::Error,
        cause: "the build runs `$tool$suffix`, which is not installed under that name. dkms appends \
                ` CC=clang LD=ld.lld` to the make command for a clang kernel, and Debian/Ubuntu install \
                only versioned names (clang-19, ld.lld-19, llvm-objcopy-19)",
        fix: "run the build through `dkwrap make`, which names the installed tools that match the kernel \
              (LLVM=-19 CC=clang-19 LD=ld.lld-19 ...); if none is installed: `apt install clang-19 lld-19 \
              llvm-19` (the version the kernel was built with)",
    },
    Signature {
        id: "gcc-given-clang-flags",
        // gcc quotes with ‘’ in UTF-8 locales and '' in the C locale.
        pattern: r"unrecognized command[- ]line option ['‘`](?P<flag>-mretpoline-external-thunk|-Qunused-arguments|-fsplit-lto-unit|-flto=thin|-mstack-alignment=[0-9]+|-fsanitize=kcfi|-mno-global-merge|-mllvm)['’]",
        severity: Severity::Error,
        cause: "gcc is compiling with a clang kernel's flags ($flag is clang-only). The package's Makefile \
                chose the compiler (`CC ?= cc` passed down to Kbuild; NVIDIA's Makefile takes the first \
                word of CONFIG_CC_VERSION_TEXT, \"Debian\", as the compiler and falls back to cc), and \
                LLVM= alone does not override a CC= the Makefile passes",
        fix: "pass CC=clang-19 (the kernel's clang) on the make command line together with LLVM=: \
              `dkwrap make -- make ...` does",
    },
    Signature {
        id: "nvidia-cc-version-text",
        pattern: r"Unable to locate the compiler (?P<cc>\S+) from CONFIG_CC_VERSION_TEXT",
        severity: Severity::Warning,
        cause: "NVIDIA's Makefile takes the first word of the kernel's CONFIG_CC_VERSION_TEXT (\"$cc\") as \
                the compiler, cannot run it, and falls back to cc (gcc), which fails on a clang kernel's \
                flags",
        fix: "pass CC=clang-19 (the kernel's compiler) on the make command line: `dkwrap make -- make ...` \
              does",
    },
    Signature {
        id: "compiler-differs",
        pattern: r"the compiler differs from the one used to build the kernel",
        severity: Severity::Warning,
        cause: "the module is compiled by a different compiler (family or version) than the kernel; on a \
                clang/ThinLTO kernel the result does not link or does not load",
        fix: "build with the compiler named in the kernel's CONFIG_CC_VERSION_TEXT: `dkwrap make` picks it \
              (`dkwrap detect` shows which one)",
    },
    Signature {
        id: "multiple-relocation-sections",
        pattern: r"multiple relocation sections to one section are not supported",
        severity: Severity::Error,
        cause: "ld.lld refuses an input object that has two relocation sections for one section: an object \
                rewritten by GNU objcopy/strip or linked by GNU ld -r (typically a prebuilt blob such as \
                nv-modeset-kernel.o_binary, or a module GNU strip rewrote)",
        fix: "rebuild the object with the kernel's LLVM toolchain (LD=ld.lld-19 OBJCOPY=llvm-objcopy-19; \
              `dkwrap make` passes them to every sub-make) and never run GNU strip/objcopy on it",
    },
    Signature {
        id: "thinlto-cache-permission",
        pattern: r"(?i)(?:thinlto-cache|can't create cache directory|failed to open (?:new )?cache file).*(?:permission denied|read-only file system|operation not permitted)|(?:permission denied|read-only file system).*thinlto-cache",
        severity: Severity::Error,
        cause: "ld.lld cannot write the ThinLTO cache (.thinlto-cache in the module's M= directory, or in \
                the kernel tree): it is owned by another user (an earlier build with sudo) or on a \
                read-only file system",
        fix: "remove the stale cache (`rm -rf <M= dir>/.thinlto-cache`) or build in a writable copy of the \
              sources as the user who owns them",
    },
    Signature {
        id: "llvm-bitcode-version-mismatch",
        pattern: r"[Pp]roducer: '(?P<producer>LLVM[0-9][^']*)' [Rr]eader: '(?P<reader>LLVM [0-9][^']*)'",
        severity: Severity::Error,
        cause: "LLVM bitcode from $producer is read by an older $reader: the object and the linker come \
                from different LLVM versions (mixed clang/ld.lld versions, or a prebuilt LTO object)",
        fix: "use clang, ld.lld and llvm-* of the kernel's LLVM version for the whole build: `dkwrap make` \
              passes them",
    },
    Signature {
        id: "nvidia-conftest-sys-close",
        pattern: r"call to undeclared function ['‘]sys_close['’]",
        severity: Severity::Error,
        cause: "NVIDIA's conftest concluded that the kernel exports none of the modern symbols and chose \
                fallback code that calls sys_close: it checks exports in the kernel's Module.symvers, which \
                is missing from the kernel build directory (or conftest ran with the wrong compiler)",
        fix: "make sure the kernel build directory has Module.symvers (install the complete headers \
              package, or copy it from the kernel build), then `make clean` (conftest results are cached) \
              and rebuild with the kernel's toolchain",
    },
    Signature {
        id: "modpost-version-generation-failed",
        pattern: r#"modpost: EXPORT symbol "(?P<symbol>[^"]+)" \[(?P<module>[^\]]+)\] version generation failed"#,
        severity: Severity::Warning,
        cause: "modpost could not compute a CRC for $symbol, exported by $module, so it is exported \
                unversioned. On a clang LTO kernel this happens when the build mixes tools: the CRCs \
                are read from LLVM bitcode, which GNU nm/ar (no LLVM= on the command line) cannot read; \
                modules that import $symbol then fail to load with \"disagrees about version of symbol\"",
        fix: LLVM_TOOLCHAIN_FIX,
    },
    Signature {
        id: "modpost-undefined",
        pattern: r#"modpost: "(?P<symbol>[^"]+)" \[(?P<module>[^\]]+)\] undefined!"#,
        severity: Severity::Error,
        cause: "$module uses $symbol, which neither the kernel's Module.symvers nor the modules built with it \
                export: Module.symvers is missing or incomplete, the kernel lacks the feature, or the symbol \
                comes from another out-of-tree module",
        fix: "check that the kernel build directory has a complete Module.symvers and that the kernel \
              config enables the feature; for symbols of another external module, pass its Module.symvers \
              with KBUILD_EXTRA_SYMBOLS=",
    },
    Signature {
        id: "nvidia-cc-version-check",
        pattern: r"\*\*\* Failed CC version check\. \*\*\*",
        severity: Severity::Warning,
        cause: "NVIDIA's conftest (cc_version_check) compares the first x.y.z of the kernel's compiler \
                string (LINUX_COMPILER in include/generated/compile.h, e.g. `Debian clang version 19.1.7 \
                (3~deb12u1), Debian LLD 19.1.7` gives 19.1) with the __GNUC__.__GNUC_MINOR__ of the \
                compiler building the module. clang always reports 4.2 there, so on a clang kernel the \
                check fails even with the kernel's own clang; on a GCC kernel it means another gcc \
                major.minor than the kernel's. The build goes on either way",
        fix: "clang kernel: nothing, if the build uses the kernel's clang (`dkwrap detect` names it, \
              `dkwrap make` passes it); IGNORE_CC_MISMATCH=1 silences the check. GCC kernel: build with \
              the gcc version that built the kernel",
    },
    Signature {
        id: "nvidia-conftest-sanity-check",
        pattern: r"\*\*\* Failed (?P<check>[A-Za-z0-9_ -]+?) sanity check\. Bailing out! \*\*\*",
        severity: Severity::Error,
        cause: "NVIDIA's conftest stopped the build: its $check sanity check failed. CC: the compiler \
                cannot compile a trivial file with the kernel's flags (a compiler other than the \
                kernel's, or an unprepared kernel tree); Xen, PREEMPT_RT, DOM0, vGPU on KVM: the \
                kernel's configuration is one this driver does not support",
        fix: "CC: build with the kernel's compiler (`dkwrap make -- make ...` passes it) against a \
              prepared kernel tree; otherwise read the conftest lines printed above this one, which \
              name the configuration option",
    },
    Signature {
        id: "objtool-rethunk-naked-return",
        pattern: r"(?:(?P<object>[^\s:]+\.o): )?(?:warning: )?objtool: (?P<function>\S+?):? 'naked' return found in RETHUNK build",
        severity: Severity::Warning,
        cause: "objtool found a plain `ret` in ${object} (${function}): that code was compiled \
                without the kernel's return-thunk flag (-mfunction-return=thunk-extern, \
                CONFIG_RETHUNK), so the kernel cannot route its returns through the Retbleed/SRSO \
                return thunk. NVIDIA's open modules link objects built by their own Makefiles \
                (src/nvidia, src/nvidia-modeset) with their own flags. The module builds and loads; \
                that function only lacks the mitigation",
        fix: "nothing is needed for the build to work; on machines that rely on the Retbleed/SRSO \
              mitigation, report it to the package (NVIDIA: open-gpu-kernel-modules)",
    },
    Signature {
        id: "objtool-retpoline-indirect-call",
        pattern: r"(?:(?P<object>[^\s:]+\.o): )?(?:warning: )?objtool: (?P<function>\S+?):? indirect (?:call|jump) found in RETPOLINE build",
        severity: Severity::Warning,
        cause: "objtool found an indirect call or jump in ${object} (${function}) that does not go \
                through a retpoline thunk: that code was compiled without the kernel's retpoline flags \
                (-mretpoline-external-thunk / -mindirect-branch=thunk-extern, CONFIG_RETPOLINE). \
                NVIDIA's open modules link objects built by their own Makefiles with their own flags. \
                The module builds and loads; that branch only lacks the Spectre v2 mitigation",
        fix: "nothing is needed for the build to work; on machines that rely on retpolines, report it \
              to the package (NVIDIA: open-gpu-kernel-modules)",
    },
    Signature {
        id: "kernel-headers-missing",
        pattern: r"(?P<dir>/lib/modules/[^/\s]+/(?:build|source))\S*: No such file or directory|No rule to make target '[^']*/lib/modules/[^/\s]+/build|The kernel header file \S+ does not exist|Your kernel headers for kernel \S+ cannot be found|(?i)kernel (?:source|headers?) (?:tree|directory )?(?:not found|is missing)",
        severity: Severity::Error,
        cause: "the kernel headers (build directory with include/, Makefile, .config) for the target kernel \
                are not installed",
        fix: "install the headers of the target kernel (Debian: `apt install linux-headers-<release>`, \
              Fedora: kernel-devel-<release>, Arch: linux-headers) or pass the build tree with \
              `--kernel-dir` / dkms `--kernelsourcedir`",
    },
    Signature {
        id: "kernel-tree-unprepared",
        pattern: r"Kernel configuration is invalid|(?:generated/autoconf\.h|include/config/auto\.conf|generated/utsrelease\.h)(?::| ).*(?:No such file or directory|are missing)",
        severity: Severity::Error,
        cause: "the kernel build directory is not prepared for external modules (no include/generated, \
                include/config/auto.conf)",
        fix: "run `make modules_prepare` in the kernel tree (with the kernel's toolchain, e.g. LLVM=-19), \
              or install the distribution's headers package",
    },
];

/// What the build already had, as plain values from the stage that ran it: a diagnosis names
/// the target kernel (never the running one) and never suggests an argument already given.
#[derive(Debug, Clone, Default)]
pub struct BuildContext {
    /// The release of the kernel the build was for.
    pub target_release: Option<String>,
    /// The arguments that already name the kernel: `--kernel-dir`, `SYSOUT=`, `KERNEL_UNAME=`,
    /// `-C` (empty: none).
    pub kernel_named_by: Vec<String>,
    /// The make variables the command sets (`CC`, `LD`, `LLVM`, ...).
    pub variables_given: Vec<String>,
}

/// Rows whose fix is "pass these variables on the make command line".
const TOOLCHAIN_FIXES: &[(&str, &[&str])] = &[
    ("llvm-tool-not-found", &["CC", "LD"]),
    ("gcc-given-clang-flags", &["CC"]),
    ("nvidia-cc-version-text", &["CC"]),
    ("compiler-differs", &["CC"]),
    ("gnu-ld-emulation-llvm", &["LD"]),
    ("gnu-ld-format-not-recognized", &["LD"]),
    ("gnu-objcopy-format-not-recognized", &["OBJCOPY"]),
];

/// Fits a diagnosis's cause and fix to what the build already had (`explain`, which reads a
/// log without its command, keeps the table's general words).
pub fn tailor(d: &mut Diagnosis, ctx: &BuildContext) {
    if d.id == "kernel-headers-missing" {
        let (cause, fix) = headers_missing_words(ctx);
        d.cause = cause;
        d.fix = fix;
        return;
    }
    let suggested = TOOLCHAIN_FIXES
        .iter()
        .find(|(id, _)| *id == d.id)
        .map_or(&[][..], |(_, vars)| *vars);
    let given: Vec<&str> = suggested
        .iter()
        .copied()
        .filter(|v| ctx.variables_given.iter().any(|g| g == v))
        .collect();
    if !given.is_empty() && given.len() == suggested.len() {
        d.fix = format!(
            "the command already sets {} on make's command line, so a part of the build does \
             not use it: the package's Makefile passes its own value to a sub-make (`$(MAKE) \
             {}=...`) or sets it with `override`. Find that line (`grep -rn '{}' --include=Makefile* \
             --include=Kbuild .`), pass the variable it reads instead, or report it to the package",
            given.iter().map(|v| format!("{v}=")).collect::<Vec<_>>().join(" "),
            given[0],
            given[0]
        );
    }
}

fn headers_missing_words(ctx: &BuildContext) -> (String, String) {
    let release = ctx
        .target_release
        .as_deref()
        .unwrap_or("<the target kernel's release>");
    if ctx.kernel_named_by.is_empty() {
        return (
            format!(
                "the kernel headers (build directory with include/, Makefile, .config) of the target \
                 kernel {release} are not installed"
            ),
            format!(
                "install the headers of kernel {release} (Debian/Ubuntu: `apt install \
                 linux-headers-{release}`, Fedora: kernel-devel-{release}, Arch: linux-headers) or \
                 pass its build tree with `--kernel-dir` / dkms `--kernelsourcedir`"
            ),
        );
    }
    let named = ctx.kernel_named_by.join(", ");
    (
        format!(
            "the command names the kernel tree ({named}; release {release}), but the package's \
             Makefile looked for the kernel elsewhere: it finds it another way (NVIDIA's through \
             KERNEL_UNAME and /lib/modules/{release}/build unless SYSSRC/SYSOUT are set; Kbuild-style \
             packages through KDIR, KERNELDIR, KSRC or -C)"
        ),
        format!(
            "pass the tree in the variable the package's Makefile reads (NVIDIA: SYSSRC=<tree>/source \
             SYSOUT=<tree>; others: the KDIR/KERNELDIR/KSRC their Makefile uses); `dkwrap make` adds \
             it when it finds it read in the Makefiles (its `added` lines say which), or install the \
             headers of {release} so that /lib/modules/{release}/build exists"
        ),
    )
}

struct Compiled {
    set: RegexSet,
    each: Vec<Regex>,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let patterns = SIGNATURES.iter().map(|s| s.pattern);
        // The table is a constant checked by the unit tests: a bad pattern is a bug, not input.
        #[allow(clippy::expect_used)]
        let set = RegexSet::new(patterns).expect("diagnosis patterns compile");
        #[allow(clippy::expect_used)]
        let each = SIGNATURES
            .iter()
            .map(|s| Regex::new(s.pattern).expect("diagnosis pattern compiles"))
            .collect();
        Compiled { set, each }
    })
}

/// Incremental scanner: feed it lines as they arrive; each signature is reported once, at its
/// first matching line ([`Scanner::every_line`]: at every matching line).
#[derive(Debug, Default)]
pub struct Scanner {
    found: Vec<Diagnosis>,
    lines: usize,
    every_line: bool,
}

impl Scanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// A scanner that reports every matching line, for `explain`, which counts repeats.
    pub fn every_line() -> Self {
        Scanner {
            every_line: true,
            ..Self::default()
        }
    }

    /// Scans one line (without its newline). Returns the diagnoses this line added.
    pub fn scan_line(&mut self, line: &str) -> &[Diagnosis] {
        self.lines += 1;
        let before = self.found.len();
        let c = compiled();
        // RegexSet says which rows match; only those run their capturing regex.
        for idx in c.set.matches(line).iter() {
            let sig = &SIGNATURES[idx];
            if !self.every_line && self.found.iter().any(|d| d.id == sig.id) {
                continue;
            }
            let Some(caps) = c.each[idx].captures(line) else {
                continue;
            };
            let mut cause = String::new();
            caps.expand(sig.cause, &mut cause);
            let mut fix = String::new();
            caps.expand(sig.fix, &mut fix);
            self.found.push(Diagnosis {
                id: sig.id,
                line: line.trim_end_matches('\r').trim().to_string(),
                cause: collapse_spaces(&cause),
                fix: collapse_spaces(&fix),
                line_number: self.lines,
                severity: sig.severity,
            });
        }
        &self.found[before..]
    }

    pub fn diagnoses(&self) -> &[Diagnosis] {
        &self.found
    }

    pub fn into_diagnoses(self) -> Vec<Diagnosis> {
        self.found
    }
}

/// The table's texts are wrapped in the source; print them as single-spaced prose.
fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every known signature found in `output`, in order of first appearance, each once.
pub fn diagnose(output: &str) -> Vec<Diagnosis> {
    let mut scanner = Scanner::new();
    for line in output.lines() {
        scanner.scan_line(line);
    }
    scanner.into_diagnoses()
}

/// Every line of `output` that a signature recognises, in order (a line matching two rows
/// appears twice).
pub fn recognise_every_line(output: &str) -> Vec<Diagnosis> {
    let mut scanner = Scanner::every_line();
    for line in output.lines() {
        scanner.scan_line(line);
    }
    scanner.into_diagnoses()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<&'static str> {
        diagnose(text).into_iter().map(|d| d.id).collect()
    }

    #[test]
    fn every_pattern_compiles_and_ids_are_unique() {
        assert_eq!(compiled().each.len(), SIGNATURES.len());
        let mut seen = std::collections::HashSet::new();
        for s in SIGNATURES {
            assert!(seen.insert(s.id), "duplicate id {}", s.id);
            assert!(!s.cause.is_empty() && !s.fix.is_empty());
        }
    }

    /// The messages measured with dkms 3.0.10 on the clang-19 ThinLTO tree and with NVIDIA's
    /// open-gpu-kernel-modules 595.45.04, each with the row it must hit.
    #[test]
    fn measured_messages() {
        let cases: &[(&str, &str)] = &[
            ("make: clang: No such file or directory", "llvm-tool-not-found"),
            ("make[2]: ld.lld: No such file or directory", "llvm-tool-not-found"),
            ("/bin/sh: 1: clang: not found", "llvm-tool-not-found"),
            ("strip: nvidia-modeset.ko: invalid entry (0x5) in group [22]", "gnu-strip-invalid-group-entry"),
            ("BFD (GNU Binutils) 2.43.1 assertion fail ../bfd/elf.c:3944", "gnu-bfd-assertion"),
            ("strip: BFD (GNU Binutils for Debian) 2.40 assertion fail ../../bfd/elf.c:3574", "gnu-bfd-assertion"),
            ("strip: /var/lib/dkms/x/build/x.ko: file format not recognized", "gnu-strip-format-not-recognized"),
            ("objcopy: nvidia-modeset.ko: file format not recognized", "gnu-objcopy-format-not-recognized"),
            ("libbpf: btf_encoder__write_elf: failed", "btf-encode-failed"),
            ("Failed to encode BTF", "btf-encode-failed"),
            ("ld: unrecognised emulation mode: llvm", "gnu-ld-emulation-llvm"),
            ("gcc: error: unrecognized command-line option '-mretpoline-external-thunk'", "gcc-given-clang-flags"),
            ("cc: error: unrecognized command-line option '-Qunused-arguments'", "gcc-given-clang-flags"),
            // gcc in a UTF-8 locale, as measured on this package with `LLVM=-19` only.
            ("cc: error: unrecognized command-line option ‘-mretpoline-external-thunk’", "gcc-given-clang-flags"),
            ("WARNING: modpost: EXPORT symbol \"mlike_describe\" [/tmp/p/kernel-open/modeset-like.ko] version generation failed, symbol will not be versioned.", "modpost-version-generation-failed"),
            ("gcc: error: unrecognized command-line option '-fsplit-lto-unit'; did you mean '-fsplit-stack'?", "gcc-given-clang-flags"),
            ("nvidia/nv.c:12:5: error: call to undeclared function 'sys_close'; ISO C99 and later do not support implicit function declarations [-Wimplicit-function-declaration]", "nvidia-conftest-sys-close"),
            ("ld.lld: error: blob.o: multiple relocation sections to one section are not supported", "multiple-relocation-sections"),
            ("ld.lld: error: can't create cache directory /src/.thinlto-cache: Permission denied", "thinlto-cache-permission"),
            ("warning: the compiler differs from the one used to build the kernel", "compiler-differs"),
            ("make: *** /lib/modules/6.1.0-9-amd64/build: No such file or directory.  Stop.", "kernel-headers-missing"),
            // dkms's own message, in its output rather than make.log.
            ("Error! Your kernel headers for kernel 6.1.0-9-amd64 cannot be found at /lib/modules/6.1.0-9-amd64/build or /lib/modules/6.1.0-9-amd64/source.", "kernel-headers-missing"),
            ("ERROR: modpost: \"drm_dev_put\" [nvidia-drm.ko] undefined!", "modpost-undefined"),
            ("/bin/sh: 1: pahole: not found", "pahole-missing"),
            ("Makefile:22: WARNING: Unable to locate the compiler Debian from CONFIG_CC_VERSION_TEXT in the kernel configuration.", "nvidia-cc-version-text"),
            ("ld: nvidia.o: file not recognized: file format not recognized", "gnu-ld-format-not-recognized"),
            ("  ERROR: Kernel configuration is invalid.", "kernel-tree-unprepared"),
            ("Skipping BTF generation for /x/m.ko due to unavailability of vmlinux", "btf-vmlinux-missing"),
            // The x86-64 host's binutils 2.40 on the arm64 fixtures.
            ("strip: Unable to recognise the format of the input file `basic-arm64-thinlto.ko'", "gnu-strip-foreign-format"),
            ("strip: a.ko: SHT_GROUP section [index 28] has no SHF_GROUP sections", "gnu-bfd-group-without-members"),
            // NVIDIA 595.45.04 against the clang-19 ThinLTO tree (issue 16).
            ("*** Failed CC version check. ***", "nvidia-cc-version-check"),
            ("*** Failed CC sanity check. Bailing out! ***", "nvidia-conftest-sanity-check"),
            ("*** Failed PREEMPT_RT sanity check. Bailing out! ***", "nvidia-conftest-sanity-check"),
            ("nvidia.o: warning: objtool: _nv000123rm+0x1c: 'naked' return found in RETHUNK build", "objtool-rethunk-naked-return"),
            ("nvidia-modeset.o: warning: objtool: nvKmsIoctl+0x5a: indirect call found in RETPOLINE build", "objtool-retpoline-indirect-call"),
        ];
        for (line, want) in cases {
            let got = ids(line);
            assert_eq!(got, vec![*want], "line {line:?}");
        }
    }

    /// Real logs captured from the e2e package (testdata/dkms/modeset-like) and dkms 3.0.10
    /// on the clang-19 ThinLTO tree; see testdata/dkms/README.md. Every row they must hit,
    /// in order of first appearance.
    #[test]
    fn real_build_logs() {
        let logs: &[(&str, &str, &[&str])] = &[
            (
                "LLVM=-19 only: the package's Makefile passes CC=cc to Kbuild",
                include_str!("../testdata/dkms/logs/nvidia-shaped-llvm-only.make.log"),
                &[
                    "nvidia-cc-version-text",
                    "compiler-differs",
                    "gcc-given-clang-flags",
                ],
            ),
            (
                "no toolchain variables: NVIDIA's CONFIG_CC_VERSION_TEXT guess",
                include_str!("../testdata/dkms/logs/nvidia-shaped-no-toolchain.make.log"),
                &[
                    "nvidia-cc-version-text",
                    "compiler-differs",
                    "gcc-given-clang-flags",
                ],
            ),
            (
                "CC/CXX/LLVM given, LD left to the Makefile's `LD ?= ld`",
                include_str!("../testdata/dkms/logs/nvidia-shaped-gnu-ld.make.log"),
                &["gnu-ld-emulation-llvm"],
            ),
            (
                "dkms 3.0.10 as installed on Debian (CC=clang LD=ld.lld appended)",
                include_str!("../testdata/dkms/logs/dkms-plain-as-installed.make.log"),
                &["llvm-tool-not-found"],
            ),
            (
                "dkms 3.0.10 with clang/ld.lld aliases: the rest of the tools are GNU",
                include_str!("../testdata/dkms/logs/dkms-plain-with-clang-aliases.make.log"),
                &["modpost-version-generation-failed"],
            ),
            (
                "dkms 3.0.10 running GNU strip 2.40",
                include_str!("../testdata/dkms/logs/dkms-plain-gnu-strip-2.40.out"),
                &["gnu-strip-format-not-recognized"],
            ),
            (
                "dkms 3.0.10 running GNU strip 2.43.1",
                include_str!("../testdata/dkms/logs/dkms-plain-gnu-strip-2.43.1.out"),
                &["gnu-strip-invalid-group-entry", "gnu-bfd-assertion"],
            ),
            (
                "a module using a symbol nothing exports",
                include_str!("../testdata/dkms/logs/undefined-symbol.make.log"),
                &["modpost-undefined"],
            ),
        ];
        for (what, log, want) in logs {
            let got: Vec<&str> = diagnose(log).iter().map(|d| d.id).collect();
            assert_eq!(&got, want, "{what}");
        }
    }

    #[test]
    fn captures_fill_cause_and_each_row_reports_once() {
        let text = "make: clang: No such file or directory\n\
                    make: ld.lld: No such file or directory\n\
                    gcc: error: unrecognized command-line option '-Qunused-arguments'\n";
        let d = diagnose(text);
        assert_eq!(d.len(), 2);
        assert!(d[0].cause.contains("`clang`"), "{}", d[0].cause);
        assert_eq!(d[0].line_number, 1);
        assert_eq!(d[1].id, "gcc-given-clang-flags");
        assert!(d[1].cause.contains("-Qunused-arguments is clang-only"));
        assert_eq!(d[1].line_number, 3);
        assert!(!d[1].cause.contains("  "));
    }

    #[test]
    fn every_line_mode_keeps_repeats_and_the_default_does_not() {
        let text = "strip: BFD (GNU Binutils for Debian) 2.40 assertion fail ../../bfd/elf.c:3574\n\
                    strip: BFD (GNU Binutils for Debian) 2.40 assertion fail ../../bfd/elf.c:3574\n";
        assert_eq!(diagnose(text).len(), 1);
        let all = recognise_every_line(text);
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].line_number, all[1].line_number), (1, 2));
    }

    #[test]
    fn objtool_rows_name_the_object_and_function() {
        let d = diagnose(
            "nvidia.o: warning: objtool: _nv000123rm+0x1c: 'naked' return found in RETHUNK build",
        );
        assert!(
            d[0].cause.contains("nvidia.o (_nv000123rm+0x1c)"),
            "{}",
            d[0].cause
        );
    }

    #[test]
    fn headers_missing_names_the_target_and_never_suggests_what_was_given() {
        let line = "make: *** /lib/modules/6.1.0-9-amd64/build: No such file or directory.  Stop.";
        let mut d = diagnose(line).remove(0);
        let given = BuildContext {
            target_release: Some("6.1.192".into()),
            kernel_named_by: vec!["--kernel-dir".into(), "KERNEL_UNAME=".into()],
            variables_given: vec![],
        };
        tailor(&mut d, &given);
        for text in [&d.cause, &d.fix] {
            assert!(!text.contains("uname -r"), "{text}");
            assert!(
                !text.contains("pass its build tree with `--kernel-dir`"),
                "{text}"
            );
            assert!(text.contains("6.1.192"), "{text}");
        }
        assert!(
            d.cause.contains("--kernel-dir, KERNEL_UNAME="),
            "{}",
            d.cause
        );
        assert!(
            d.fix.contains("SYSSRC=<tree>/source SYSOUT=<tree>"),
            "{}",
            d.fix
        );

        let mut d = diagnose(line).remove(0);
        let nothing = BuildContext {
            target_release: Some("6.1.0-9-amd64".into()),
            kernel_named_by: vec![],
            variables_given: vec![],
        };
        tailor(&mut d, &nothing);
        assert!(d.fix.contains("linux-headers-6.1.0-9-amd64"), "{}", d.fix);
        assert!(d.fix.contains("--kernel-dir"), "{}", d.fix);
        // Without a context (`explain`), no command is assumed and no kernel is guessed.
        let plain = diagnose(line).remove(0);
        assert!(!plain.fix.contains("uname -r"), "{}", plain.fix);
    }

    #[test]
    fn a_toolchain_fix_is_not_suggested_when_the_command_has_it() {
        let line = "ld: unrecognised emulation mode: llvm";
        let mut d = diagnose(line).remove(0);
        assert!(d.fix.contains("pass LD=ld.lld-19"), "{}", d.fix);
        let ctx = BuildContext {
            variables_given: vec!["LLVM".into(), "CC".into(), "LD".into()],
            ..BuildContext::default()
        };
        tailor(&mut d, &ctx);
        assert!(!d.fix.contains("pass LD=ld.lld-19"), "{}", d.fix);
        assert!(d.fix.contains("already sets LD="), "{}", d.fix);
        // Only CC given: the LD row keeps its fix.
        let mut d = diagnose(line).remove(0);
        let cc_only = BuildContext {
            variables_given: vec!["CC".into()],
            ..BuildContext::default()
        };
        tailor(&mut d, &cc_only);
        assert!(d.fix.contains("pass LD=ld.lld-19"), "{}", d.fix);
    }

    #[test]
    fn ordinary_build_output_is_quiet() {
        let text = "  CC [M]  /tmp/m/mlike_main.o\n  LD [M]  /tmp/m/modeset-like.o\n  MODPOST /tmp/m/Module.symvers\n\
                    make: Leaving directory '/k'\n  LD [M]  /tmp/m/modeset-like.ko\n  BTF [M] /tmp/m/m.ko\n\
                    strip: warning: ignoring\nld.lld: warning: something\n";
        assert!(diagnose(text).is_empty(), "{:?}", diagnose(text));
    }
}
