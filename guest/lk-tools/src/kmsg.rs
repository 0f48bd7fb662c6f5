//! kmsg: the kernel's log (`/dev/kmsg`) on stderr, one line per record, so the service log
//! (memlogd) keeps kernel messages beside the containers' (LinuxKit's `pkg/kmsg` format:
//! `(SEQ) - TIME: MESSAGE`, TIME in RFC 3339 from the boot time and the record's stamp).

use std::time::{Duration, SystemTime};

/// One record of `/dev/kmsg`.
#[derive(Debug, PartialEq, Eq)]
pub struct Record {
    /// Syslog priority and facility.
    pub priority: u32,
    /// Sequence number.
    pub sequence: u64,
    /// Microseconds since boot.
    pub micros: u64,
    /// The text (continuation lines, `KEY=value` dictionary, dropped).
    pub message: String,
}

/// Parses `pri,seq,usec,flags[,...];message[\n KEY=value...]`.
pub fn parse(record: &[u8]) -> Option<Record> {
    let text = String::from_utf8_lossy(record);
    let (head, rest) = text.split_once(';')?;
    let mut f = head.split(',');
    let priority = f.next()?.parse().ok()?;
    let sequence = f.next()?.parse().ok()?;
    let micros = f.next()?.parse().ok()?;
    let message = rest.lines().next().unwrap_or("").to_owned();
    Some(Record {
        priority,
        sequence,
        micros,
        message,
    })
}

/// The line for `r`, the machine having booted at `boot`.
pub fn line(r: &Record, boot: SystemTime) -> String {
    let at = boot + Duration::from_micros(r.micros);
    format!(
        "({}) - {}: {}",
        r.sequence,
        humantime::format_rfc3339_nanos(at),
        r.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_lines() {
        let r =
            parse(b"6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net\n").unwrap();
        assert_eq!((r.priority, r.sequence, r.micros), (6, 339, 5_140_900));
        assert_eq!(r.message, "NET: Registered protocol family 10");
        let l = line(&r, SystemTime::UNIX_EPOCH);
        assert_eq!(
            l,
            "(339) - 1970-01-01T00:00:05.140900000Z: NET: Registered protocol family 10"
        );
        assert!(parse(b"garbage").is_none());
    }
}
