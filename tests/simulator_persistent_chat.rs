//! The simulator's Persistent Chat pools: what `Set-CsPersistentChatState` and
//! `Set-CsPersistentChatActiveServer` refuse and change, the SQL steps a person does (and when
//! SQL Server would not let them), and Microsoft's whole failover and failback played through.

mod common;

use common::simulated::{refusal, simulated};
use common::{chat_active as active, chat_state as state};
use common::{World, P1, PC, PC1, PC2, PC3, PC4};
use sfb_dr::model::{Action, ChatState, Health, ObservedChatPool};
use sfb_dr::simulator::{Deployment, Fault};

fn world() -> World {
    World::two_pairs()
        .cms_database(P1)
        .chat(ChatState::Normal, Some(&[PC1, PC2]))
}

fn chat(d: &Deployment) -> ObservedChatPool {
    d.observe().persistent_chat.remove(0)
}

fn recovered() -> Fault {
    Fault::PersistentChatDatabaseRecovered { pool: PC.into() }
}

fn restored() -> Fault {
    Fault::PersistentChatDatabaseRestored { pool: PC.into() }
}

#[test]
fn failing_over_needs_the_backup_database_online_first() {
    let mut d = simulated(&world());
    let m = refusal(&mut d, &state(ChatState::FailedOver));
    assert!(m.contains("log-shipping secondary"), "{m}");
    d.inject(&recovered()).expect("a person brings it online");
    d.run(&state(ChatState::FailedOver)).expect("allowed now");
    assert_eq!(chat(&d).state, Some(ChatState::FailedOver));
    let m = refusal(&mut d, &state(ChatState::FailedOver));
    assert!(m.contains("already in state FailedOver"), "{m}");
}

#[test]
fn active_servers_must_stand_beside_the_database_in_use_and_be_up() {
    let mut d = simulated(&world());
    let m = refusal(&mut d, &active(&[PC3]));
    assert!(m.contains("not beside the database"), "{m}");
    let m = refusal(&mut d, &active(&["pc9.contoso.com"]));
    assert!(m.contains("is not a server"), "{m}");
    let mut d = simulated(&world().chat_server(PC2, Health::Down));
    let m = refusal(&mut d, &active(&[PC1, PC2]));
    assert!(m.contains("is not operational"), "{m}");
    d.run(&active(&[PC1]))
        .expect("an up server beside the database");
    // A site going dark takes its Persistent Chat servers with it.
    d.inject(&Fault::SiteDown {
        site: "dublin".into(),
    })
    .unwrap();
    let c = chat(&d);
    assert!(c
        .servers
        .iter()
        .filter(|s| s.site.as_deref() == Some("dublin"))
        .all(|s| s.health == Health::Down));
}

#[test]
fn the_restore_waits_for_the_active_servers_to_be_cleared() {
    let mut d = simulated(&world());
    d.inject(&recovered()).unwrap();
    d.run(&state(ChatState::FailedOver)).unwrap();
    d.run(&active(&[PC3, PC4])).unwrap();
    let e = d.inject(&restored()).expect_err("servers still active");
    assert!(e.to_string().contains("clear them first"), "{e}");
    let m = refusal(&mut d, &state(ChatState::Normal));
    assert!(
        m.contains("Restore it from the backup database first"),
        "{m}"
    );
    d.run(&active(&[])).unwrap();
    d.inject(&restored())
        .expect("restored once no server is active");
}

#[test]
fn microsofts_failover_and_failback_play_through() {
    let mut d = simulated(&world());
    d.inject(&recovered()).unwrap();
    d.run(&state(ChatState::FailedOver)).unwrap();
    d.run(&active(&[PC3, PC4])).unwrap();
    let c = chat(&d);
    assert_eq!(c.active_servers, Some(vec![PC3.into(), PC4.into()]));
    d.run(&active(&[])).unwrap();
    d.inject(&restored()).unwrap();
    // Restored: the primary database is the one in use, though the state is still FailedOver.
    let m = refusal(&mut d, &active(&[PC3]));
    assert!(m.contains("not beside the database"), "{m}");
    d.run(&active(&[PC1, PC2])).unwrap();
    d.run(&state(ChatState::Normal)).unwrap();
    let c = chat(&d);
    assert_eq!(c.state, Some(ChatState::Normal));
    assert_eq!(c.active_servers, Some(vec![PC1.into(), PC2.into()]));
    // And again: log shipping runs from the primary, the backup is a secondary again.
    let m = refusal(&mut d, &state(ChatState::FailedOver));
    assert!(m.contains("log-shipping secondary"), "{m}");
}

#[test]
fn sql_server_steps_need_their_sql_server_and_the_cmdlets_need_the_cms() {
    let mut d = simulated(&world());
    d.inject(&Fault::SiteDown {
        site: "dublin".into(),
    })
    .unwrap();
    let e = d
        .inject(&recovered())
        .expect_err("the backup SQL Server is dark");
    assert!(e.to_string().contains("does not answer"), "{e}");
    let e = d.inject(&restored()).expect_err("nothing to restore");
    assert!(e.to_string().contains("not failed over"), "{e}");
    d.inject(&Fault::CmsMasterLost).unwrap();
    let m = refusal(&mut d, &active(&[PC1]));
    assert!(m.contains("Central Management Store is unavailable"), "{m}");
    for action in [
        Action::RecoverPersistentChatDatabase { pool: PC.into() },
        Action::RestorePersistentChatDatabase { pool: PC.into() },
    ] {
        let m = refusal(&mut d, &action);
        assert!(m.contains("a person's step"), "{m}");
    }
}

#[test]
fn a_start_file_without_the_sites_of_the_servers_is_refused() {
    let mut w = world();
    w.observed.persistent_chat[0].servers[0].site = None;
    let e = Deployment::new(w.observed.clone()).expect_err("the simulator needs the sites");
    assert!(
        e.to_string().contains("persistentChat[0].servers[0].site"),
        "{e}"
    );
}
