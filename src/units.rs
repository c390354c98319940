//! Counts and sizes as a person reads them: `1 host`, `3 releases`,
//! `1.5 KiB`. Plain text helpers with no imports, so executors and the ui
//! both word things the same way.

/// `1 host`, `2 hosts`.
pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Bytes as a person reads them: `512 B`, `1.5 KiB`, `12.3 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_english() {
        assert_eq!(plural(1, "host"), "1 host");
        assert_eq!(plural(0, "release"), "0 releases");
        assert_eq!(plural(3, "release"), "3 releases");
    }

    #[test]
    fn bytes_are_humanized() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 + 1024 * 300), "5.3 MiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
