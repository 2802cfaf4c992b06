//! How healthy a pool is, judged from what the observe script saw: which of its servers accept
//! a TCP connection on the SIP port, and what SfB says of its Back End's user databases.

use serde::Deserialize;

use crate::model::{BackEndMirror, Health, MirrorRole};

/// How many Front Ends must run for a pool to run, and among how many of its first servers
/// (in topology order) they must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quorum {
    pub needed: usize,
    pub among_first: usize,
}

/// Microsoft's Front End quorum ("Front End Pool high availability and management", pool-level
/// quorum loss): a pool of 2 Front Ends runs with 1, 3-4 with any 2, 5-6 with 3, 7 with 4, 8-9
/// with 4 of the first 7, 10-12 with 5 of the first 9 and, on Skype for Business Server 2019,
/// 12-16 with 7 of the first 12 ("first" in topology order). A pool of one server (Standard
/// Edition) needs it. A pool of 12 falls under both of the last rules, and which one applies
/// depends on the product version, which the observation does not tell: both are returned.
/// Outside 1-16 there is no rule.
pub fn front_end_quorums(front_ends: usize) -> &'static [Quorum] {
    match front_ends {
        1 => &[Quorum {
            needed: 1,
            among_first: 1,
        }],
        2 => &[Quorum {
            needed: 1,
            among_first: 2,
        }],
        3 => &[Quorum {
            needed: 2,
            among_first: 3,
        }],
        4 => &[Quorum {
            needed: 2,
            among_first: 4,
        }],
        5 => &[Quorum {
            needed: 3,
            among_first: 5,
        }],
        6 => &[Quorum {
            needed: 3,
            among_first: 6,
        }],
        7..=9 => &[Quorum {
            needed: 4,
            among_first: 7,
        }],
        10 | 11 => &[Quorum {
            needed: 5,
            among_first: 9,
        }],
        12 => &[
            Quorum {
                needed: 5,
                among_first: 9,
            },
            Quorum {
                needed: 7,
                among_first: 12,
            },
        ],
        13..=16 => &[Quorum {
            needed: 7,
            among_first: 12,
        }],
        _ => &[],
    }
}

/// A Front End pool's health from its servers' answers, in topology order: Up when it meets its
/// quorum, Down below it (a pool that lost its quorum stops all its services), Unknown when there
/// is no rule for its size (none listed, or more than 16) or, for a pool of 12, when the two
/// versions' rules disagree.
pub fn front_end_pool(answers: &[bool]) -> Health {
    let rules = front_end_quorums(answers.len());
    let met = rules
        .iter()
        .filter(|q| answers.iter().take(q.among_first).filter(|a| **a).count() >= q.needed)
        .count();
    if rules.is_empty() {
        Health::Unknown
    } else if met == rules.len() {
        Health::Up
    } else if met == 0 {
        Health::Down
    } else {
        Health::Unknown
    }
}

/// An Edge pool's health: its servers work alone (no quorum), so it is Up while any answers,
/// Down when none does, Unknown with none listed.
pub fn edge_pool(answers: &[bool]) -> Health {
    if answers.is_empty() {
        Health::Unknown
    } else if answers.iter().any(|a| *a) {
        Health::Up
    } else {
        Health::Down
    }
}

/// One user database of a pool's Back End, from `Get-CsUserDatabaseState -RegistrarPool`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RawUserDatabase {
    /// `Online`, as PowerShell writes a boolean in a string: `True` or `False`.
    pub online: String,
}

/// The Back End's health from its user databases: Up when SfB reports every one online, Down
/// when it reports every one offline, Unknown when it reports a mix, none, or could not be asked
/// (an error reading them is not taken for a dead Back End, which would choose a disaster-mode,
/// data-losing failover). Err names a value that is neither True nor False.
pub fn back_end(databases: &[RawUserDatabase], error: Option<&str>) -> Result<Health, String> {
    if error.is_some() || databases.is_empty() {
        return Ok(Health::Unknown);
    }
    let mut online = 0usize;
    for db in databases {
        match db.online.trim() {
            s if s.eq_ignore_ascii_case("true") => online = online.saturating_add(1),
            s if s.eq_ignore_ascii_case("false") => {}
            other => {
                return Err(format!(
                    "Online {:?} of a user database is neither True nor False",
                    super::remote_text::RemoteText::new(other, super::remote_text::EXCERPT_LIMIT)
                        .as_str()
                ))
            }
        }
    }
    Ok(if online == databases.len() {
        Health::Up
    } else if online == 0 {
        Health::Down
    } else {
        Health::Unknown
    })
}

/// One database's mirroring roles, from `Get-CsDatabaseMirrorState`: `Principal`, `Mirror`, or
/// `DatabaseInaccessibleOrMirroringNotEnabled` for a server that does not answer (or a database
/// without a mirror).
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RawMirrorState {
    pub state_on_primary: String,
    pub state_on_mirror: String,
}

/// What one server says of its role for one database.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Said {
    Principal,
    Mirror,
    Silent,
}

fn said(state: &str) -> Said {
    match state.trim() {
        s if s.eq_ignore_ascii_case("principal") => Said::Principal,
        s if s.eq_ignore_ascii_case("mirror") => Said::Mirror,
        _ => Said::Silent,
    }
}

/// The mirror of a Back End from its user databases' mirroring states: a server that answers
/// with a role for every database is up, one that answers for none is down (a mix is Unknown).
/// The principal is the server that says so; while it is down, the server still waiting as the
/// mirror names the other. None when nothing is mirrored (no state, or neither server answers for
/// any database: that is also what an unmirrored database reports). Err when the states
/// contradict each other or `back_end` (`Get-CsUserDatabaseState`): nothing is reported then,
/// so no database is moved on a reading that does not hold together.
pub fn mirror(
    states: &[RawMirrorState],
    back_end: Option<Health>,
) -> Result<Option<BackEndMirror>, String> {
    let pairs: Vec<(Said, Said)> = states
        .iter()
        .map(|s| (said(&s.state_on_primary), said(&s.state_on_mirror)))
        .collect();
    if pairs
        .iter()
        .all(|&(p, m)| p == Said::Silent && m == Said::Silent)
    {
        return Ok(None);
    }
    let side = |answers: &mut dyn Iterator<Item = Said>| {
        let (mut up, mut total) = (0usize, 0usize);
        for a in answers {
            total += 1;
            up += usize::from(a != Said::Silent);
        }
        if up == total {
            Health::Up
        } else if up == 0 {
            Health::Down
        } else {
            Health::Unknown
        }
    };
    let primary = side(&mut pairs.iter().map(|p| p.0));
    let mirror = side(&mut pairs.iter().map(|p| p.1));
    let principal_of = |&(p, m): &(Said, Said)| match (p, m) {
        (Said::Principal, Said::Principal) => Err("both servers say they are the principal"),
        (Said::Principal, _) | (Said::Silent, Said::Mirror) => Ok(MirrorRole::Primary),
        (_, Said::Principal) | (Said::Mirror, Said::Silent) => Ok(MirrorRole::Mirror),
        (Said::Mirror, Said::Mirror) => Err("both servers say they are the mirror"),
        (Said::Silent, Said::Silent) => Err("neither server answers for a database"),
    };
    let mut principal = None;
    for p in &pairs {
        let role = principal_of(p)?;
        if principal.replace(role).is_some_and(|r| r != role) {
            return Err("the user databases do not have one principal".into());
        }
    }
    let Some(principal) = principal else {
        return Ok(None);
    };
    let m = BackEndMirror {
        principal,
        primary,
        mirror,
    };
    match back_end {
        Some(b) if b != m.health(principal) => Err(format!(
            "Get-CsUserDatabaseState says the Back End is {b:?}, its principal ({}) is {:?}",
            principal.word(),
            m.health(principal)
        )),
        _ => Ok(Some(m)),
    }
}
