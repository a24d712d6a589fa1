//! Reading and rewriting the make command line: where make runs (`-C`), which directories
//! hold the external modules (`M=`, `SUBDIRS=`, `src=`), which kernel the command names
//! (`-C <kernel tree>`, `KERNELDIR=`, `SYSSRC=`, `KERNEL_UNAME=` ...), and replacing the
//! toolchain variables with the ones that match the kernel.
//!
//! Everything here is pure (no processes, no file writes) so it is unit-tested in place; the
//! only file-system reads are `is_kernel_tree` checks on `-C` directories.

use std::path::{Path, PathBuf};

/// One `NAME=VALUE` (or `NAME:=VALUE`, `NAME::=VALUE`) argument of a make command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// Parses `arg` as a command-line variable definition. make treats every non-option argument
/// containing `=` as one; `+=`/`?=`/`!=` are rare on command lines and are left alone.
pub fn assignment(arg: &str) -> Option<Assignment<'_>> {
    if arg.starts_with('-') {
        return None;
    }
    let eq = arg.find('=')?;
    let name = arg[..eq].trim_end_matches(':');
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
    {
        return None;
    }
    Some(Assignment {
        name,
        value: &arg[eq + 1..],
    })
}

/// The value of the last assignment to `name` (make: the last one on the command line wins).
pub fn last_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .filter_map(|a| assignment(a))
        .filter(|a| a.name == name)
        .map(|a| a.value)
        .next_back()
}

/// The directories given with `-C DIR`, `-CDIR`, `--directory=DIR` / `--directory DIR`, in
/// order (make applies them one after the other).
pub fn directory_options(args: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--" {
            break;
        }
        if a == "-C" || a == "--directory" {
            if let Some(d) = args.get(i + 1) {
                out.push(PathBuf::from(d));
            }
            i += 2;
            continue;
        }
        if let Some(d) = a.strip_prefix("--directory=") {
            out.push(PathBuf::from(d));
        } else if let Some(d) = a.strip_prefix("-C").filter(|d| !d.is_empty()) {
            out.push(PathBuf::from(d));
        }
        i += 1;
    }
    out
}

/// The directory make works in: `cwd` with every `-C` applied.
pub fn make_dir(cwd: &Path, args: &[String]) -> PathBuf {
    let mut dir = cwd.to_path_buf();
    for d in directory_options(args) {
        dir = dir.join(d);
    }
    dir
}

/// Variables naming the external module directory, in the order Kbuild honours them.
pub const EXTMOD_VARIABLES: &[&str] = &["M", "KBUILD_EXTMOD", "SUBDIRS", "src"];

/// The external module directories (`M=`, `KBUILD_EXTMOD=`, `SUBDIRS=`, `src=`), relative
/// ones resolved against the make directory. Empty values are ignored.
pub fn extmod_dirs(make_dir: &Path, args: &[String]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for name in EXTMOD_VARIABLES {
        if let Some(v) = last_value(args, name).filter(|v| !v.is_empty()) {
            let p = make_dir.join(v);
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Whether `dir` looks like a configured kernel build tree.
pub fn is_kernel_tree(dir: &Path) -> bool {
    dir.join(".config").is_file() || dir.join("include/config/auto.conf").is_file()
}

/// A kernel named by the make command itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelHint {
    /// A kernel build tree, and the argument it came from.
    Dir(PathBuf, String),
    /// A kernel release (`/lib/modules/<release>/build`), and the argument it came from.
    Release(String, String),
}

/// Directory variables package Makefiles use for the kernel build tree, in the order they are
/// tried (an output tree before a source tree: the configuration lives in the output tree).
pub const KERNEL_DIR_VARIABLES: &[&str] = &[
    "SYSOUT",
    "KERNEL_OUTPUT",
    "KERNELDIR",
    "KERNEL_DIR",
    "KDIR",
    "KSRC",
    "KERNEL_SRC",
    "KERNEL_SOURCES",
    "KERNEL_PATH",
    "SYSSRC",
];

/// Release variables (NVIDIA's `KERNEL_UNAME=${kernelver}` and the like).
pub const KERNEL_RELEASE_VARIABLES: &[&str] = &[
    "KERNEL_UNAME",
    "kernelver",
    "KVER",
    "KERNELVER",
    "KERNEL_VERSION",
    "KERNELRELEASE",
];

/// The kernel the make command names, when no `--kernel`/`--kernel-dir` was given: an
/// `O=`/`KBUILD_OUTPUT=` kernel tree, else a `-C` directory that is a kernel tree, else the
/// first of [`KERNEL_DIR_VARIABLES`], else the first of [`KERNEL_RELEASE_VARIABLES`].
pub fn kernel_hint(cwd: &Path, args: &[String]) -> Option<KernelHint> {
    let dir = make_dir(cwd, args);
    // `make -C <source> O=<output>`: the configuration lives in the output tree.
    for name in ["O", "KBUILD_OUTPUT"] {
        if let Some(v) = last_value(args, name).filter(|v| !v.is_empty()) {
            let out = dir.join(v);
            if is_kernel_tree(&out) {
                return Some(KernelHint::Dir(out, format!("{name}=")));
            }
        }
    }
    if !directory_options(args).is_empty() && is_kernel_tree(&dir) {
        return Some(KernelHint::Dir(dir, "-C".into()));
    }
    for name in KERNEL_DIR_VARIABLES {
        if let Some(v) = last_value(args, name).filter(|v| !v.is_empty()) {
            return Some(KernelHint::Dir(dir.join(v), format!("{name}=")));
        }
    }
    for name in KERNEL_RELEASE_VARIABLES {
        if let Some(v) = last_value(args, name).filter(|v| !v.is_empty()) {
            return Some(KernelHint::Release(v.to_string(), format!("{name}=")));
        }
    }
    None
}

/// A variable the build must see, and the tool it names (for the equivalence check of a
/// user-given value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub value: String,
    /// The resolved tool behind `value`; `None` for non-tool variables (LLVM=, ARCH=).
    pub tool: Option<PathBuf>,
}

/// One change made to the command line, for the log and the summary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rewrite {
    pub variable: String,
    /// The value given on the command line; `None` when dkwrap added the variable.
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
}

/// What a tool name given on the command line resolves to.
pub trait ToolLookup {
    /// The canonical file `value` runs (its last word: `ccache clang-19` → clang-19's file),
    /// or `None` when it names nothing runnable.
    fn resolve(&self, value: &str) -> Option<PathBuf>;
}

/// Looks names up on PATH and canonicalises them (symlinks such as /usr/bin/clang-19 →
/// /usr/lib/llvm-19/bin/clang are followed).
pub struct PathLookup;

impl ToolLookup for PathLookup {
    fn resolve(&self, value: &str) -> Option<PathBuf> {
        let word = value.split_whitespace().next_back()?;
        let found = which::which(word).ok()?;
        std::fs::canonicalize(&found).ok().or(Some(found))
    }
}

/// Rewrites `args` (the make arguments, without the program) so every wanted variable has
/// its wanted value: an existing assignment is kept when it already names the same tool
/// (after resolving both), replaced otherwise, and missing ones are appended. Every
/// occurrence is handled, since the last one on a make command line wins.
pub fn apply_toolchain(
    args: &[String],
    wanted: &[Wanted],
    lookup: &dyn ToolLookup,
) -> (Vec<String>, Vec<Rewrite>) {
    let mut out = Vec::with_capacity(args.len() + wanted.len());
    let mut rewrites = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for arg in args {
        let Some(a) = assignment(arg) else {
            out.push(arg.clone());
            continue;
        };
        let Some(w) = wanted.iter().find(|w| w.name == a.name) else {
            out.push(arg.clone());
            continue;
        };
        seen.push(&w.name);
        if a.value == w.value {
            out.push(arg.clone());
            continue;
        }
        if let Some(tool) = &w.tool {
            let given = if w.name == "LLVM" {
                clang_of_llvm_value(a.value).and_then(|clang| lookup.resolve(&clang))
            } else {
                lookup.resolve(a.value)
            };
            let want = std::fs::canonicalize(tool).unwrap_or_else(|_| tool.clone());
            if given.as_ref() == Some(&want) {
                tracing::info!(
                    "kept {}={} (it runs {}, the tool that matches the kernel)",
                    a.name,
                    a.value,
                    want.display()
                );
                out.push(arg.clone());
                continue;
            }
            let what = match clang_of_llvm_value(a.value).filter(|_| w.name == "LLVM") {
                Some(clang) => format!("`LLVM={}` runs `{clang}`, which", a.value),
                None => format!("`{}`", a.value),
            };
            let reason = match given {
                None => format!("{what} is not installed"),
                Some(p) => format!(
                    "`{}` runs {}, not the kernel's {}",
                    a.value,
                    p.display(),
                    tool.display()
                ),
            };
            rewrites.push(Rewrite {
                variable: w.name.clone(),
                from: Some(a.value.to_string()),
                to: w.value.clone(),
                reason,
            });
        } else {
            rewrites.push(Rewrite {
                variable: w.name.clone(),
                from: Some(a.value.to_string()),
                to: w.value.clone(),
                reason: format!("the kernel needs {}={}", w.name, w.value),
            });
        }
        out.push(format!("{}={}", w.name, w.value));
    }
    for w in wanted {
        if !seen.contains(&w.name.as_str()) {
            rewrites.push(Rewrite {
                variable: w.name.clone(),
                from: None,
                to: w.value.clone(),
                reason: "added: the kernel's toolchain must win over the Makefile's defaults"
                    .into(),
            });
            out.push(format!("{}={}", w.name, w.value));
        }
    }
    (out, rewrites)
}

/// The clang a Kbuild `LLVM=` value runs: `1` → `clang`, `-19` → `clang-19`,
/// `/usr/lib/llvm-19/bin/` → that directory's `clang` (Linux 5.18+ `LLVM=` forms).
pub fn clang_of_llvm_value(value: &str) -> Option<String> {
    if value == "1" {
        Some("clang".into())
    } else if value.starts_with('-') {
        Some(format!("clang{value}"))
    } else if value.ends_with('/') {
        Some(format!("{value}clang"))
    } else {
        None
    }
}

/// Quotes one argument for display the way a POSIX shell would need it.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c));
    if safe {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// A command line for display (escaped for the terminal, quoted for a shell).
pub fn display_command(program: &str, args: &[String]) -> String {
    let mut s = shell_quote(program);
    for a in args {
        s.push(' ');
        s.push_str(&shell_quote(a));
    }
    crate::output::escape(&s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    struct FakeLookup(HashMap<&'static str, &'static str>);
    impl ToolLookup for FakeLookup {
        fn resolve(&self, value: &str) -> Option<PathBuf> {
            let word = value.split_whitespace().next_back()?;
            self.0.get(word).map(PathBuf::from)
        }
    }

    #[test]
    fn parses_assignments_and_directories() {
        assert_eq!(
            assignment("CC=clang"),
            Some(Assignment {
                name: "CC",
                value: "clang"
            })
        );
        assert_eq!(assignment("LLVM:=1").map(|a| a.name), Some("LLVM"));
        assert_eq!(assignment("-j4"), None);
        assert_eq!(assignment("--eval=X=1"), None);
        assert_eq!(assignment("modules"), None);
        let args = v(&[
            "-j4",
            "-C",
            "/k",
            "M=/m",
            "-Csub",
            "--directory=x",
            "modules",
        ]);
        assert_eq!(
            directory_options(&args),
            vec![
                PathBuf::from("/k"),
                PathBuf::from("sub"),
                PathBuf::from("x")
            ]
        );
        assert_eq!(
            make_dir(Path::new("/cwd"), &args),
            PathBuf::from("/k/sub/x")
        );
        assert_eq!(
            extmod_dirs(Path::new("/k"), &v(&["M=rel", "SUBDIRS=/abs", "M=/last"])),
            vec![PathBuf::from("/last"), PathBuf::from("/abs")]
        );
    }

    #[test]
    fn kernel_hints_in_documented_order() {
        let cwd = Path::new("/nonexistent-cwd");
        // -C to a directory that is not a kernel tree (the package's own dir) is no hint.
        assert_eq!(kernel_hint(cwd, &v(&["-C", "/pkg", "modules"])), None);
        assert_eq!(
            kernel_hint(cwd, &v(&["KERNEL_UNAME=6.1.0-9", "SYSSRC=/usr/src/k"])),
            Some(KernelHint::Dir(
                PathBuf::from("/usr/src/k"),
                "SYSSRC=".into()
            ))
        );
        assert_eq!(
            kernel_hint(cwd, &v(&["'make'", "KERNEL_UNAME=6.1.0-9", "modules"])),
            Some(KernelHint::Release(
                "6.1.0-9".into(),
                "KERNEL_UNAME=".into()
            ))
        );
        assert_eq!(
            kernel_hint(cwd, &v(&["KERNELDIR=/k", "SYSSRC=/s"])),
            Some(KernelHint::Dir(PathBuf::from("/k"), "KERNELDIR=".into()))
        );
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join(".config"), "CONFIG_X=y\n").unwrap();
        let t = tree.path().to_str().unwrap();
        assert_eq!(
            kernel_hint(cwd, &v(&["-C", t, "KERNELDIR=/other", "M=/m"])),
            Some(KernelHint::Dir(tree.path().to_path_buf(), "-C".into()))
        );
        // A source tree built with O=: the output tree holds the configuration.
        assert_eq!(
            kernel_hint(
                cwd,
                &v(&["-C", "/usr/src/linux", &format!("O={t}"), "M=/m"])
            ),
            Some(KernelHint::Dir(tree.path().to_path_buf(), "O=".into()))
        );
    }

    #[test]
    fn rewrites_wrong_and_missing_tools_keeps_equivalent_ones() {
        let lookup = FakeLookup(HashMap::from([
            ("clang-19", "/usr/lib/llvm-19/bin/clang"),
            ("/usr/bin/clang-19", "/usr/lib/llvm-19/bin/clang"),
            ("ld", "/usr/bin/x86_64-linux-gnu-ld.bfd"),
        ]));
        let wanted = vec![
            Wanted {
                name: "LLVM".into(),
                value: "-19".into(),
                tool: Some(PathBuf::from("/usr/lib/llvm-19/bin/clang")),
            },
            Wanted {
                name: "CC".into(),
                value: "/usr/bin/clang-19".into(),
                // canonicalize() fails on this fake path, so the path itself is compared.
                tool: Some(PathBuf::from("/usr/lib/llvm-19/bin/clang")),
            },
            Wanted {
                name: "LD".into(),
                value: "/usr/bin/ld.lld-19".into(),
                tool: Some(PathBuf::from("/usr/lib/llvm-19/bin/ld.lld")),
            },
            Wanted {
                name: "OBJCOPY".into(),
                value: "/usr/bin/llvm-objcopy-19".into(),
                tool: Some(PathBuf::from("/usr/lib/llvm-19/bin/llvm-objcopy")),
            },
        ];
        // What dkms 3.0.10 runs for a clang kernel, plus an old guide's LLVM=1.
        let args = v(&[
            "-C",
            "/k",
            "M=/m",
            "LLVM=1",
            "modules",
            "CC=clang",
            "LD=ld.lld",
        ]);
        let (out, rw) = apply_toolchain(&args, &wanted, &lookup);
        assert_eq!(
            out,
            v(&[
                "-C",
                "/k",
                "M=/m",
                "LLVM=-19",
                "modules",
                "CC=/usr/bin/clang-19",
                "LD=/usr/bin/ld.lld-19",
                "OBJCOPY=/usr/bin/llvm-objcopy-19"
            ])
        );
        let vars: Vec<_> = rw.iter().map(|r| r.variable.as_str()).collect();
        assert_eq!(vars, ["LLVM", "CC", "LD", "OBJCOPY"]);
        assert!(rw[1].reason.contains("not installed"), "{}", rw[1].reason);
        assert_eq!(rw[3].from, None);

        // A value that runs the same tool (by another name, or behind ccache) is kept.
        let args = v(&["CC=ccache clang-19", "LD=ld"]);
        let (out, rw) = apply_toolchain(&args, &wanted, &lookup);
        assert_eq!(out[0], "CC=ccache clang-19");
        assert_eq!(out[1], "LD=/usr/bin/ld.lld-19");
        assert!(rw[0].variable == "LD" && rw[0].reason.contains("x86_64-linux-gnu-ld.bfd"));
    }

    #[test]
    fn llvm_values_dkms_appends_are_kept_only_when_they_run_the_kernels_clang() {
        assert_eq!(clang_of_llvm_value("1").as_deref(), Some("clang"));
        assert_eq!(clang_of_llvm_value("-19").as_deref(), Some("clang-19"));
        assert_eq!(
            clang_of_llvm_value("/usr/lib/llvm-19/bin/").as_deref(),
            Some("/usr/lib/llvm-19/bin/clang")
        );
        assert_eq!(clang_of_llvm_value("0"), None);
        let wanted = vec![Wanted {
            name: "LLVM".into(),
            value: "-19".into(),
            tool: Some(PathBuf::from("/usr/lib/llvm-19/bin/clang")),
        }];
        // Debian: no unversioned clang, so dkms 3.4's LLVM=1 is rewritten.
        let debian = FakeLookup(HashMap::from([("clang-19", "/usr/lib/llvm-19/bin/clang")]));
        let (out, rw) = apply_toolchain(&v(&["modules", "LLVM=1"]), &wanted, &debian);
        assert_eq!(out, v(&["modules", "LLVM=-19"]));
        assert_eq!(rw.len(), 1);
        assert!(rw[0].reason.contains("not installed"), "{}", rw[0].reason);
        // Arch: clang is the kernel's clang, so LLVM=1 is kept; so is a matching directory.
        let arch = FakeLookup(HashMap::from([
            ("clang", "/usr/lib/llvm-19/bin/clang"),
            ("/usr/lib/llvm-19/bin/clang", "/usr/lib/llvm-19/bin/clang"),
            ("clang-18", "/usr/lib/llvm-18/bin/clang"),
        ]));
        for kept in ["LLVM=1", "LLVM=/usr/lib/llvm-19/bin/"] {
            let (out, rw) = apply_toolchain(&v(&[kept]), &wanted, &arch);
            assert_eq!(out, v(&[kept]));
            assert!(rw.is_empty(), "{kept}: {rw:?}");
        }
        // Another major is rewritten, and the reason names the clang it would have run.
        let (out, rw) = apply_toolchain(&v(&["LLVM=-18"]), &wanted, &arch);
        assert_eq!(out, v(&["LLVM=-19"]));
        assert!(rw[0].reason.contains("llvm-18"), "{}", rw[0].reason);
    }

    #[test]
    fn quotes_for_display() {
        assert_eq!(
            display_command(
                "make",
                &v(&["-C", "/a b", "NV_EXCLUDE_BUILD_MODULES=", "x'y"])
            ),
            "make -C '/a b' NV_EXCLUDE_BUILD_MODULES= 'x'\\''y'"
        );
    }
}
