//! How the benches print their figures.

use std::time::Duration;

/// A duration in whole milliseconds: `412 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// A size in KiB, or in MiB from one MiB up: `7.6 KiB`, `21.23 MiB`.
pub fn size(bytes: u64) -> String {
    if bytes > 1024 * 1024 {
        format!("{:.2} MiB", bytes as f64 / 1048576.0)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
