//! Small helpers for running actions on a simulated deployment built from a [`super::World`].

use sfb_dr::model::{Action, BackupSql, Mode};
use sfb_dr::simulator::Deployment;

use super::World;

/// The deployment the world's observation describes.
pub fn simulated(w: &World) -> Deployment {
    Deployment::new(w.observed.clone()).expect("consistent world")
}

/// A CMS failover into `to`, with backup SQL details when `backup_sql`.
pub fn cms_to(to: &str, mode: Mode, backup_sql: bool) -> Action {
    Action::FailOverCms {
        to: to.into(),
        mode,
        backup_sql: backup_sql.then(|| {
            Box::new(BackupSql {
                pool: to.into(),
                sql_server_fqdn: "sql2.contoso.com".into(),
                sql_instance_name: Some("rtc".into()),
                mirror_sql_server_fqdn: None,
                mirror_sql_instance_name: None,
            })
        }),
    }
}

/// The refusal of `action`, which must be refused.
pub fn refusal(d: &mut Deployment, action: &Action) -> String {
    match d.run(action) {
        Err(message) => message,
        Ok(_) => panic!("{action:?} was allowed"),
    }
}

/// Who serves `pool`'s users, as the simulator observes it.
pub fn served_by(d: &Deployment, pool: &str) -> String {
    d.observe()
        .pools
        .into_iter()
        .find(|p| p.fqdn == pool)
        .and_then(|p| p.served_by)
        .expect("known pool")
}
