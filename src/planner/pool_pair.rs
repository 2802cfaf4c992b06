//! One pair on its own: who serves each pool's users now, who should, and the failback and
//! failover that get it there: failback before failover (the swap rule), the mode each takes,
//! never into a pool that is down, and the conference content owed to a pool that failed back
//! (ARCHITECTURE.md, "Where each SfB rule lives").

use crate::model::{
    BlockReason, Desired, Health, Ledger, Mode, ObservedIndex, ObservedPool, PairSpec,
};

/// A pool move within a pair; `pool` is the index of the home pool in the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Move {
    pub pool: usize,
    pub mode: Mode,
}

/// What a pair needs: at most one failback, which precedes at most one failover (the swap rule).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PairMoves {
    pub failback: Option<Move>,
    pub failover: Option<Move>,
    /// For each pool of the pair, the index of the pool serving its users after the moves.
    pub final_serving: [usize; 2],
    /// The index of the pool to copy conference content from (`SyncBackup`), when the ledger
    /// owes one to its partner and both are up.
    pub owed_sync: Option<usize>,
}

impl PairMoves {
    /// Whether the pair has any step to run.
    pub fn any(&self) -> bool {
        self.failback.is_some() || self.failover.is_some() || self.owed_sync.is_some()
    }
}

/// Either the pair's moves or why it stays where it is.
pub(super) type PairDecision = Result<PairMoves, (BlockReason, String)>;

/// A pair with its observed pools.
pub(super) struct PairView<'a> {
    pub spec: &'a PairSpec,
    pub pools: [&'a ObservedPool; 2],
    /// Positions of the pools in the observed topology, for lookups without hashing.
    pub index: [usize; 2],
}

impl<'a> PairView<'a> {
    /// Looks the pair's pools up in the observation; a missing pool blocks the pair.
    pub fn new(
        spec: &'a PairSpec,
        observed: &'a ObservedIndex,
    ) -> Result<Self, (BlockReason, String)> {
        let lookup = |i: usize| {
            observed.pool_index(&spec.pools[i].fqdn).ok_or_else(|| {
                (
                    BlockReason::ObservationDisagrees,
                    format!(
                        "pool {} is not in the observed topology",
                        spec.pools[i].fqdn
                    ),
                )
            })
        };
        // The second pool is usually the first one's backup pool: one hash lookup, not two.
        let first = lookup(0)?;
        let second = match observed.partner_index(first) {
            Some(j) if observed.topology.pools[j].fqdn == spec.pools[1].fqdn => j,
            _ => lookup(1)?,
        };
        let index = [first, second];
        let pools = index.map(|i| &observed.topology.pools[i]);
        Ok(PairView { spec, pools, index })
    }

    pub fn fqdn(&self, i: usize) -> &'a str {
        &self.spec.pools[i].fqdn
    }
}

/// Decides the pair's moves from desired state, observation and ledger.
pub(super) fn decide(
    pair: &PairView<'_>,
    desired: &Desired,
    observed: &ObservedIndex,
    ledger: &Ledger,
) -> PairDecision {
    if let Some(why) = observed.unsupported_pairing(pair.index[0]) {
        return Err((
            BlockReason::PairUnsupported,
            format!("{why}; the pair is left alone"),
        ));
    }
    let serving = [serving(pair, 0, ledger)?, serving(pair, 1, ledger)?];
    if serving == [1, 0] {
        return Err((
            BlockReason::ObservationDisagrees,
            format!(
                "both {} and {} are reported failed over to each other, which SfB never allows",
                pair.fqdn(0),
                pair.fqdn(1)
            ),
        ));
    }
    let active = [
        desired.pool_site_active(pair.spec, 0),
        desired.pool_site_active(pair.spec, 1),
    ];
    // Home when its site is active, else the partner when that site is active.
    let want = |i: usize| {
        if active[i] {
            Some(i)
        } else if active[1 - i] {
            Some(1 - i)
        } else {
            None
        }
    };
    let (Some(want0), Some(want1)) = (want(0), want(1)) else {
        return Err((
            BlockReason::NoActiveSite,
            format!(
                "neither site {} nor site {} is active for this pair; its users cannot be served",
                pair.spec.pools[0].site, pair.spec.pools[1].site
            ),
        ));
    };
    let target = [want0, want1];
    let mut moves = PairMoves {
        failback: None,
        failover: None,
        final_serving: target,
        owed_sync: None,
    };
    for i in 0..2 {
        if serving[i] == target[i] {
            continue;
        }
        if serving[i] == i {
            moves.failover = Some(failover(pair, i, desired, observed)?);
        } else {
            moves.failback = Some(failback(pair, i, desired, observed)?);
        }
    }
    moves.owed_sync = owed_sync(pair, &moves, ledger)?;
    Ok(moves)
}

/// The conference-content copy the ledger owes a home pool, made once both pools are up and the
/// users stay home; a failback in this plan brings its own copy, and a pool whose users move
/// away again needs none until they return.
fn owed_sync(
    pair: &PairView<'_>,
    moves: &PairMoves,
    ledger: &Ledger,
) -> Result<Option<usize>, (BlockReason, String)> {
    for home in 0..2 {
        let Some(from) = ledger.conference_content_owed.get(pair.fqdn(home)) else {
            continue;
        };
        let backup = 1 - home;
        if from != pair.fqdn(backup) {
            return Err((
                BlockReason::ObservationDisagrees,
                format!(
                    "the ledger owes {} conference content from {from}, which is not its backup \
                     pool {}; correct the ledger",
                    pair.fqdn(home),
                    pair.fqdn(backup)
                ),
            ));
        }
        let stays_home = moves.final_serving[home] == home;
        let fails_back = moves.failback.is_some_and(|m| m.pool == home);
        let both_up = pair.pools.iter().all(|p| serving_health(p) == Health::Up);
        if stays_home && !fails_back && both_up {
            return Ok(Some(backup));
        }
    }
    Ok(None)
}

/// Whether a pool can serve users: its Front Ends up and its Back End not down. A Back End the
/// driver does not observe counts as up; one it observes as `Unknown` makes the pool `Unknown`,
/// and so do Front Ends of unknown health whatever the Back End (nothing is done to a pool the
/// probe cannot read).
pub(super) fn serving_health(pool: &ObservedPool) -> Health {
    match (pool.health, pool.back_end) {
        (Health::Down, _) => Health::Down,
        (Health::Unknown, _) => Health::Unknown,
        (Health::Up, Some(Health::Down)) => Health::Down,
        (Health::Up, Some(Health::Unknown)) => Health::Unknown,
        (Health::Up, Some(Health::Up) | None) => Health::Up,
    }
}

/// Index of the pool serving pool `i`'s users: the observation checked against the ledger, the
/// ledger where the driver cannot observe, and home when neither knows.
fn serving(pair: &PairView<'_>, i: usize, ledger: &Ledger) -> Result<usize, (BlockReason, String)> {
    let home = pair.fqdn(i);
    let observed = pair.pools[i].served_by.as_deref();
    let recorded = ledger.served_by.get(home).map(String::as_str);
    let server = match (observed, recorded) {
        (Some(o), Some(r)) if o != r => {
            return Err((
                BlockReason::ObservationDisagrees,
                format!(
                "the ledger says {home}'s users are served by {r}, but the driver observes {o}; \
                     resolve it by hand, then correct the ledger"
            ),
            ))
        }
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => home,
    };
    pair.spec.position(server).ok_or_else(|| {
        (
            BlockReason::ObservationDisagrees,
            format!("{home}'s users are served by {server}, which is not in this pair"),
        )
    })
}

/// A failover of pool `i` into its partner: never into a pool that is down, disaster mode
/// exactly when the home pool is down or its Back End is (`Invoke-CsPoolFailOver -DisasterMode`
/// is required for a pool whose Back End SQL services are down while its Front Ends are up).
fn failover(
    pair: &PairView<'_>,
    i: usize,
    desired: &Desired,
    observed: &ObservedIndex,
) -> Result<Move, (BlockReason, String)> {
    let (home, partner) = (pair.pools[i], pair.pools[1 - i]);
    match serving_health(partner) {
        Health::Up => {}
        Health::Down => {
            return Err((
                BlockReason::TargetDown,
                format!(
                    "{} must fail over to {}, which is down{}; SfB never fails over into a pool that is down",
                    home.fqdn,
                    partner.fqdn,
                    back_end_note(partner)
                ),
            ))
        }
        Health::Unknown => return Err(unknown_health(partner)),
    }
    let mode = match serving_health(home) {
        Health::Up => Mode::Graceful,
        // Disaster mode gives up what was not replicated yet: only with consent, as for a
        // failback.
        Health::Down if desired.allow_data_loss => Mode::Disaster,
        Health::Down => {
            return Err((
                BlockReason::DataLossNotAllowed,
                format!(
                    "{} can fail over only in disaster mode because it is down{}, which gives up \
                     the changes not yet replicated to {}; set allowDataLoss: true on the \
                     Topology to allow it",
                    home.fqdn,
                    back_end_note(home),
                    partner.fqdn
                ),
            ))
        }
        Health::Unknown => return Err(unknown_health(home)),
    };
    if mode == Mode::Graceful {
        backup_healthy(observed, pair, i, "fail over")?;
    }
    Ok(Move { pool: i, mode })
}

/// A failback of pool `i` from its partner: needs the home pool and its Back End up; disaster
/// mode only when the partner is down and data loss is allowed.
fn failback(
    pair: &PairView<'_>,
    i: usize,
    desired: &Desired,
    observed: &ObservedIndex,
) -> Result<Move, (BlockReason, String)> {
    let (home, partner) = (pair.pools[i], pair.pools[1 - i]);
    match serving_health(home) {
        Health::Up => {}
        Health::Down => {
            return Err((
                BlockReason::HomeDown,
                format!(
                    "{} must fail back but is down{}; a failback needs the home pool healthy",
                    home.fqdn,
                    back_end_note(home)
                ),
            ))
        }
        Health::Unknown => return Err(unknown_health(home)),
    }
    let mode = match serving_health(partner) {
        Health::Up => Mode::Graceful,
        Health::Down if desired.allow_data_loss => Mode::Disaster,
        Health::Down => {
            return Err((
                BlockReason::DataLossNotAllowed,
                format!(
                    "{} can fail back only in disaster mode because {} is down{}, which loses what \
                     its users changed there; set allowDataLoss: true on the Topology to allow it",
                    home.fqdn,
                    partner.fqdn,
                    back_end_note(partner)
                ),
            ))
        }
        Health::Unknown => return Err(unknown_health(partner)),
    };
    if mode == Mode::Graceful {
        backup_healthy(observed, pair, 1 - i, "fail back")?;
    }
    Ok(Move { pool: i, mode })
}

/// A graceful move waits for the direction the users leave to reach its final state, which an
/// `ErrorState` direction never does.
fn backup_healthy(
    observed: &ObservedIndex,
    pair: &PairView<'_>,
    from: usize,
    verb: &str,
) -> Result<(), (BlockReason, String)> {
    let direction = observed
        .backup_from_index(pair.index[from])
        .filter(|d| d.to == pair.pools[1 - from].fqdn);
    let (from, to) = (pair.pools[from], pair.pools[1 - from]);
    match direction {
        Some(d) if d.is_error() => Err((
            BlockReason::BackupUnhealthy,
            format!(
                "cannot {verb} gracefully: Backup Service replication {} -> {} is in ErrorState \
                 (export {:?}, import {:?}); repair it first",
                from.fqdn, to.fqdn, d.export_state, d.import_state
            ),
        )),
        _ => Ok(()),
    }
}

/// Names the Back End when it, not the Front Ends, is what is down.
pub(super) fn back_end_note(pool: &ObservedPool) -> &'static str {
    if pool.health != Health::Down && pool.back_end == Some(Health::Down) {
        " (its Back End SQL Server is down)"
    } else {
        ""
    }
}

pub(super) fn unknown_health(pool: &ObservedPool) -> (BlockReason, String) {
    let what = if pool.health == Health::Unknown {
        "the health of"
    } else {
        "the health of the Back End of"
    };
    (
        BlockReason::HealthUnknown,
        format!(
            "{what} {} is Unknown; waiting for the probe to tell",
            pool.fqdn
        ),
    )
}
