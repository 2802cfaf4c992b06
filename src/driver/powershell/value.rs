//! Values that enter a PowerShell script: checked against what SfB itself accepts, then written
//! as single-quoted literals, so a hostile name can neither end the literal nor expand.
//!
//! PowerShell ends a single-quoted string at `'` and also at the typographic quotes U+2018,
//! U+2019, U+201A and U+201B; inside one, `$`, backticks and `;` are plain characters. Values are
//! ASCII-only after validation, so the look-alikes never reach [`quote`], which doubles them anyway.

use std::fmt;

/// A value that cannot safely name what it claims to name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {shown} is not valid: {reason}")]
pub struct ValueError {
    /// What the value was meant to be, such as "pool FQDN".
    pub what: &'static str,
    /// The value with control and non-ASCII characters escaped, so the message stays one line.
    pub shown: String,
    pub reason: &'static str,
}

fn invalid(what: &'static str, value: &str, reason: &'static str) -> ValueError {
    let mut shown: String = value
        .chars()
        .take(80)
        .flat_map(char::escape_default)
        .collect();
    if value.chars().count() > 80 {
        shown.push_str("...");
    }
    ValueError {
        what,
        shown: format!("\"{shown}\""),
        reason,
    }
}

/// A DNS name as RFC 1123 defines it (ASCII letters, digits and `-`, at least two labels): how
/// SfB names pools, Edge pools and SQL Servers. Stored lowercase, as the rest of sfb-dr compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fqdn(String);

impl Fqdn {
    /// Checks `value`; `what` names it in the error ("pool FQDN", "SQL Server FQDN").
    pub fn parse(what: &'static str, value: &str) -> Result<Self, ValueError> {
        if value.is_empty() || value.len() > 253 {
            return Err(invalid(what, value, "must be 1 to 253 characters"));
        }
        if !value.is_ascii() {
            return Err(invalid(
                what,
                value,
                "must be ASCII (non-ASCII look-alike letters are refused)",
            ));
        }
        let labels: Vec<&str> = value.split('.').collect();
        if labels.len() < 2 {
            return Err(invalid(
                what,
                value,
                "must be fully qualified (two labels or more)",
            ));
        }
        for label in labels {
            let bytes = label.as_bytes();
            let ok = !bytes.is_empty()
                && bytes.len() <= 63
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-';
            if !ok {
                return Err(invalid(
                    what,
                    value,
                    "each label must be 1 to 63 letters, digits or inner hyphens (RFC 1123)",
                ));
            }
        }
        Ok(Fqdn(value.to_ascii_lowercase()))
    }

    /// The name itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fqdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SQL Server instance name (`-BackupSqlInstanceName`): up to 16 letters, digits, `_`, `$` or
/// `#`, starting with a letter or `_`, as the CentralManagementStore CRD also checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlInstance(String);

impl SqlInstance {
    /// Checks `value`.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let bytes = value.as_bytes();
        let ok = value.is_ascii()
            && (1..=16).contains(&bytes.len())
            && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'#'));
        if ok {
            Ok(SqlInstance(value.to_owned()))
        } else {
            Err(invalid(
                "SQL Server instance name",
                value,
                "must be up to 16 letters, digits, _, $ or #, starting with a letter or _",
            ))
        }
    }

    /// The name itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An SfB site name as `Set-CsSite -Identity` takes it (not `site:<name>`), as the deployment
/// reports it: 1 to 256 characters, none of them a control character, with no space at either
/// end. Any other character is safe, since it goes into a single-quoted literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteName(String);

impl SiteName {
    /// Checks `value`.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = (1..=256).contains(&value.chars().count())
            && value.trim() == value
            && !value.chars().any(char::is_control);
        if ok {
            Ok(SiteName(value.to_owned()))
        } else {
            Err(invalid(
                "site name",
                value,
                "must be 1 to 256 characters, no control characters, no space at either end",
            ))
        }
    }

    /// The name itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Backup Service module name (`-BackupModule`), such as `ConfServices.DataConf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleName(String);

impl ModuleName {
    /// Checks `value`: two or more dotted words of ASCII letters.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let ok = value.len() <= 64
            && value.split('.').count() >= 2
            && value
                .split('.')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphabetic()));
        if ok {
            Ok(ModuleName(value.to_owned()))
        } else {
            Err(invalid(
                "Backup Service module name",
                value,
                "must be dotted words of ASCII letters, such as ConfServices.DataConf",
            ))
        }
    }

    /// The name itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An operation key as the management server stores it: the name of its record file
/// (`op-<key>.json`) and a literal in the script. Checked again here, whatever the caller
/// checked, because it becomes a file name on Windows: lowercase ASCII letters, digits and
/// inner `-` only, since NTFS ignores case and two keys differing only in case would share one
/// record (plan ids are lowercase hex and step ids `s<n>`, so real keys always pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordKey(String);

impl RecordKey {
    /// The longest key accepted, as [`crate::driver::OperationKey::MAX_LEN`].
    pub const MAX_LEN: usize = 128;

    /// Checks `value`.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        let bytes = value.as_bytes();
        let ok = (1..=Self::MAX_LEN).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes.first() != Some(&b'-')
            && bytes.last() != Some(&b'-');
        if ok {
            Ok(RecordKey(value.to_owned()))
        } else {
            Err(invalid(
                "operation key",
                value,
                "must be 1 to 128 lowercase ASCII letters, digits or inner '-' (it names a file on the management server)",
            ))
        }
    }

    /// The key itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The characters PowerShell accepts as a single quote: `'` and the four typographic quotes.
const SINGLE_QUOTES: [char; 5] = ['\'', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}'];

/// `value` as a PowerShell single-quoted literal: every quote character is doubled, which is
/// the only escape a single-quoted string has; nothing inside one is expanded.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if SINGLE_QUOTES.contains(&c) {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}
