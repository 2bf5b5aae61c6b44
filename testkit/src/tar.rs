//! Raw tar members, for archives that break the bundle writer's rules on purpose.

use ferry_bundle::tar::{self, Kind};

/// A raw tar member for hand-made archives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The name written into the header as is (a directory ends in `/`; may be hostile).
    pub name: String,
    /// The member's content.
    pub data: Vec<u8>,
    /// The ustar typeflag: `b'0'` file, `b'5'` directory, `b'1'`/`b'2'` hard/symbolic link.
    pub typeflag: u8,
}

/// Writes members as a tar with valid checksums but none of the writer's safety rules.
pub fn raw_tar(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let kind = if m.typeflag == b'5' { Kind::Dir } else { Kind::File };
        // Build a canonical header for a placeholder name, then write the real (possibly hostile) name.
        let mut h = tar::header("x", m.data.len() as u64, kind).unwrap();
        h[..100].fill(0);
        let n = m.name.as_bytes();
        h[..n.len().min(100)].copy_from_slice(&n[..n.len().min(100)]);
        h[156] = m.typeflag;
        if m.typeflag == b'2' || m.typeflag == b'1' {
            h[157..157 + 11].copy_from_slice(b"/etc/passwd");
        }
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&m.data);
        out.resize(out.len() + tar::padding(m.data.len() as u64) as usize, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// The members of a bundle's bytes, in archive order (directories named with a trailing `/`).
pub fn members_of(bundle: &[u8]) -> Vec<Member> {
    tar::parse(bundle)
        .unwrap()
        .into_iter()
        .map(|e| Member {
            name: if e.kind == Kind::Dir { format!("{}/", e.name) } else { e.name.clone() },
            data: bundle[e.offset as usize..(e.offset + e.size) as usize].to_vec(),
            typeflag: if e.kind == Kind::Dir { b'5' } else { b'0' },
        })
        .collect()
}
