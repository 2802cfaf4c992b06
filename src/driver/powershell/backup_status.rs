//! One Backup Service direction from a pool's own status (`Get-CsBackupServiceStatus -PoolFqdn
//! <pool>` describes that pool's export to its partner, per the cmdlet reference and
//! Microsoft's "Configuring and monitoring the Backup Service"): its modules, user data and CMS by default and, on Skype for Business
//! Server 2019 with Response Group backup on, `-Category RGS` too.

use serde::Deserialize;

use crate::model::{BackupDirection, ExportState, Health, ImportState};

use super::remote_text::RemoteText;

/// One entry of `.BackupModules`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RawModule {
    pub identity: String,
    pub export_status: String,
    pub import_status: String,
}

fn export_state(pool: &str, m: &RawModule) -> Result<ExportState, String> {
    serde_json::from_value(serde_json::Value::String(m.export_status.clone())).map_err(|_| {
        format!(
            "pool {pool}, module {}: ExportStatus \"{}\" is not FinalState, SteadyState, NonSteadyState, NotInitialized or ErrorState",
            RemoteText::excerpt(&m.identity),
            RemoteText::excerpt(&m.export_status)
        )
    })
}

fn import_state(pool: &str, m: &RawModule) -> Result<ImportState, String> {
    serde_json::from_value(serde_json::Value::String(m.import_status.clone())).map_err(|_| {
        format!(
            "pool {pool}, module {}: ImportStatus \"{}\" is not NormalState or ErrorState",
            RemoteText::excerpt(&m.identity),
            RemoteText::excerpt(&m.import_status)
        )
    })
}

/// How far a state is from "nothing left to send"; a direction is as far as its worst module.
fn export_rank(s: ExportState) -> u8 {
    match s {
        ExportState::FinalState => 0,
        ExportState::SteadyState => 1,
        ExportState::NonSteadyState => 2,
        ExportState::NotInitialized => 3,
        ExportState::ErrorState => 4,
    }
}

/// The direction `from` -> `to`, from the modules `from` reported (None when it could not be
/// asked or failed to answer). A pool that is down cannot answer and gives no direction. A pool
/// that is not down yet reports nothing, no module at all, or only a CMS standby, is in error:
/// no graceful move may wait for a final state it cannot show. `CentralMgmt.CMSMaster` in `NotInitialized` is normal
/// on the pool that does not host the master and is left out.
pub fn direction(
    modules: Option<&[RawModule]>,
    from: &str,
    to: &str,
    health: Health,
) -> Result<Option<BackupDirection>, String> {
    let in_error = || BackupDirection {
        from: from.to_owned(),
        to: to.to_owned(),
        export_state: ExportState::ErrorState,
        import_state: ImportState::ErrorState,
        last_sync_age_seconds: None,
    };
    let live = health != Health::Down;
    let modules = match modules {
        Some(m) if !m.is_empty() => m,
        _ => return Ok(live.then(in_error)),
    };
    let mut export: Option<ExportState> = None;
    let mut import = ImportState::NormalState;
    for m in modules {
        let e = export_state(from, m)?;
        if import_state(from, m)? == ImportState::ErrorState {
            import = ImportState::ErrorState;
        }
        if m.identity.eq_ignore_ascii_case("CentralMgmt.CMSMaster")
            && e == ExportState::NotInitialized
        {
            continue;
        }
        if export.is_none_or(|w| export_rank(e) > export_rank(w)) {
            export = Some(e);
        }
    }
    // Only a CMS standby listed: the user data modules every paired pool has are missing.
    let Some(export_state) = export else {
        return Ok(live.then(in_error));
    };
    Ok(Some(BackupDirection {
        from: from.to_owned(),
        to: to.to_owned(),
        export_state,
        import_state: import,
        // The age of the last sync is not a documented output of any cmdlet.
        last_sync_age_seconds: None,
    }))
}
