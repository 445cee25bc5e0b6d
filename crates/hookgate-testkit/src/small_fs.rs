//! A small filesystem of a test's own, to fill: disk-full tests of the
//! embedded store.
//!
//! [`SmallFs::mount`] mounts a `tmpfs` of a given size on a fresh temp dir
//! (the kernel answers `ENOSPC` once it is full, exactly as a full disk
//! does), and [`Drop`] unmounts it. Mounting needs root (or
//! `CAP_SYS_ADMIN`), as CI and the development machines have; elsewhere
//! the test fails and says so, rather than pass without checking anything.
//! [`SmallFs::fill`] takes all but a given number of bytes with a filler
//! file, and [`SmallFs::free`] gives them back.

use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// A mounted tmpfs; unmounted when dropped.
#[derive(Debug)]
pub struct SmallFs {
    dir: TempDir,
}

impl SmallFs {
    /// Mounts a tmpfs of `bytes` on a new temp dir.
    pub fn mount(bytes: u64) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hookgate-small-fs-")
            .tempdir()
            .expect("temp dir for the small filesystem");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes}"))
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a {bytes}-byte tmpfs on {} (disk-full tests need root or CAP_SYS_ADMIN): {}",
            dir.path().display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        SmallFs { dir }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Bytes still free on the filesystem.
    pub fn available(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .expect("run df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df prints the available bytes")
    }

    /// Fills the filesystem until at most `leave` bytes are free (a filler
    /// file grows; a second call grows it further).
    pub fn fill(&self, leave: u64) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("open the filler file");
        let chunk = vec![0x5a_u8; 64 * 1024];
        loop {
            let free = self.available();
            if free <= leave {
                break;
            }
            let n = ((free - leave) as usize).min(chunk.len());
            if file.write_all(&chunk[..n]).is_err() {
                break;
            }
            let _ = file.flush();
        }
        let _ = file.sync_all();
    }

    /// Removes the filler file: the space is free again.
    pub fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazily: a process that still has a file open there (a gateway
        // being killed) must not keep the mount alive.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
