//! The operator end to end, driven through the real kubectl: the example deployment converges,
//! a site goes inactive and comes back, pairs swap, a site is lost in a disaster, and a pair whose
//! target is down is left alone.

mod e2e;

use e2e::{assert_clean, eventually, expect_eq, position, Env, CONVERGE, NS};
use sfb_dr::model::{Action, BackupModule, Mode};
use sfb_dr::simulator::{Fault, Outcome};

fn failover(pool: &str, mode: Mode) -> Action {
    Action::FailOverPool {
        pool: pool.into(),
        mode,
    }
}

fn failback(pool: &str, mode: Mode) -> Action {
    Action::FailBackPool {
        pool: pool.into(),
        mode,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_become_ready_with_useful_columns() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    assert!(
        env.audit().is_empty(),
        "nothing to do at rest: {:?}",
        env.audit()
    );

    let pairs = env.kubectl(&["get", "poolpairs", "-n", NS]).await.ok();
    let header = pairs.lines().next().unwrap_or_default().to_owned();
    for column in [
        "POOL-A",
        "POOL-B",
        "A-SERVED-BY",
        "B-SERVED-BY",
        "BACKUP",
        "READY",
        "AGE",
    ] {
        assert!(header.contains(column), "{column} missing from {header}");
    }
    assert!(
        pairs.contains(
            "pool1.contoso.com   pool2.contoso.com   pool1.contoso.com   pool2.contoso.com"
        ),
        "who serves whom at a glance:\n{pairs}"
    );
    let topologies = env.kubectl(&["get", "topologies", "-n", NS]).await.ok();
    assert!(topologies.contains("STEPS"), "{topologies}");
    assert!(topologies.contains("True"), "{topologies}");
    let sites = env.kubectl(&["get", "sites", "-n", NS]).await.ok();
    assert!(
        sites.contains("ACTIVE") && sites.contains("true"),
        "{sites}"
    );
    let cms = env.kubectl(&["get", "cms", "-n", NS]).await.ok();
    assert!(
        cms.contains("pool1.contoso.com"),
        "the CMS master column: {cms}"
    );
    assert_eq!(
        env.jsonpath("site/redmond", "{.status.pools[*].fqdn}")
            .await,
        "pool1.contoso.com pool3.contoso.com pool6.contoso.com"
    );
    operator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_set_inactive_fails_over_in_order_and_fails_back_when_active_again() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;

    let rto = env
        .jsonpath(
            "topology/contoso",
            "{.status.conditions[?(@.type==\"RTOMet\")].reason}",
        )
        .await;
    assert_eq!(rto, "NoRecoveryYet", "nothing has moved users yet");
    env.set_site_active("redmond", false).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    // The failover plan is judged against objectives.rtoSeconds (1200 s; the simulator takes
    // well under a second of real time).
    let e = &env;
    eventually("RTOMet after the failover", CONVERGE, || async move {
        let rto = e
            .jsonpath("topology/contoso", "{.status.conditions[?(@.type==\"RTOMet\")].status}/{.status.conditions[?(@.type==\"RTOMet\")].reason}")
            .await;
        expect_eq(&rto, "True/WithinObjective")
    })
    .await;
    for (pair, a, b) in [
        ("pool1-pool2", "pool2.contoso.com", "pool2.contoso.com"),
        ("pool3-pool4", "pool4.contoso.com", "pool4.contoso.com"),
        ("pool5-pool6", "pool5.contoso.com", "pool5.contoso.com"),
    ] {
        let served = env
            .jsonpath(&format!("poolpair/{pair}"), "{.status.pools[*].servedBy}")
            .await;
        assert_eq!(served, format!("{a} {b}"), "{pair}");
    }
    let audit = env.audit();
    assert_clean(&audit);
    // The CMS and the live Edge leave pool1 before its failover (rules 2 and 3).
    let cms = audit
        .iter()
        .position(|a| matches!(&a.command, Action::FailOverCms { to, mode: Mode::Graceful, .. } if to == "pool2.contoso.com"))
        .expect("the CMS moved");
    let edge = position(
        &audit,
        &Action::RepointEdge {
            edge: "edge1.contoso.com".into(),
            to: "pool2.contoso.com".into(),
        },
    );
    let pool1 = position(&audit, &failover("pool1.contoso.com", Mode::Graceful));
    assert!(cms < pool1 && edge < pool1, "{audit:#?}");
    position(&audit, &failover("pool3.contoso.com", Mode::Graceful));
    position(&audit, &failover("pool6.contoso.com", Mode::Graceful));
    assert_eq!(audit.len(), 5, "exactly the five steps: {audit:#?}");

    env.set_site_active("redmond", true).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    let audit = env.audit();
    assert_clean(&audit);
    for (home, backup) in [
        ("pool1.contoso.com", "pool2.contoso.com"),
        ("pool3.contoso.com", "pool4.contoso.com"),
        ("pool6.contoso.com", "pool5.contoso.com"),
    ] {
        let back = position(&audit, &failback(home, Mode::Graceful));
        let sync = position(
            &audit,
            &Action::SyncBackup {
                pool: backup.into(),
                module: BackupModule::DataConf,
            },
        );
        assert!(
            back < sync,
            "conference content is copied after {home} fails back"
        );
    }
    let history = env
        .jsonpath("topology/contoso", "{.status.history[*].outcome}")
        .await;
    assert_eq!(history, "Succeeded Succeeded", "both plans recorded");
    assert_eq!(env.sim.observe().expect("observes").data_loss, Some(0));
    operator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_sites_fails_back_before_it_fails_over() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    env.set_site_active("redmond", false).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;

    // One change: redmond back, dublin out. pool1's users come home before pool2's leave.
    let sites = format!(
        "apiVersion: sfbdr.io/v1alpha1\nkind: Site\nmetadata: {{name: redmond, namespace: {NS}}}\nspec: {{active: true}}\n---\n\
         apiVersion: sfbdr.io/v1alpha1\nkind: Site\nmetadata: {{name: dublin, namespace: {NS}}}\nspec: {{active: false}}\n"
    );
    env.apply(&sites).await;
    env.wait_ready("site/dublin").await;
    env.wait_all_ready().await;
    let audit = env.audit();
    assert_clean(&audit);
    let back = position(&audit, &failback("pool1.contoso.com", Mode::Graceful));
    let over = position(&audit, &failover("pool2.contoso.com", Mode::Graceful));
    assert!(back < over, "the swap rule: {audit:#?}");
    let served = env
        .jsonpath("poolpair/pool1-pool2", "{.status.pools[*].servedBy}")
        .await;
    assert_eq!(served, "pool1.contoso.com pool1.contoso.com");
    operator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_disaster_recovers_the_cms_then_fails_over_in_disaster_mode() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;

    env.fault(Fault::SiteDown {
        site: "redmond".into(),
    });
    env.set_site_active("redmond", false).await;
    env.wait_ready("site/redmond").await;
    env.wait_all_ready().await;
    let audit = env.audit();
    assert_clean(&audit);
    let cms = audit
        .iter()
        .position(|a| {
            matches!(&a.command, Action::FailOverCms { to, mode: Mode::Disaster, backup_sql: Some(_) } if to == "pool2.contoso.com")
        })
        .expect("the CMS recovered from its backup SQL Server");
    for pool in [
        "pool1.contoso.com",
        "pool3.contoso.com",
        "pool6.contoso.com",
    ] {
        let over = position(&audit, &failover(pool, Mode::Disaster));
        assert!(cms < over, "nothing before the CMS recovery");
    }
    let lost = env.sim.observe().expect("observes").data_loss.unwrap_or(0);
    assert!(lost > 0, "a disaster loses the changes not yet replicated");
    let disaster = env
        .jsonpath(
            "topology/contoso",
            "{.status.history[-1:].disasterModeSteps}",
        )
        .await;
    assert_eq!(disaster, "4", "the history says what the plan gave up");
    let described = env
        .kubectl(&["describe", "topology", "contoso", "-n", NS])
        .await
        .ok();
    assert!(
        described.contains("DataLoss")
            && described.contains("gives up the changes not yet replicated"),
        "each disaster-mode step is a Warning that says what it gives up:\n{described}"
    );
    operator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pair_whose_target_is_down_is_stalled_and_left_alone() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;

    env.fault(Fault::PoolDown {
        pool: "pool4.contoso.com".into(),
    });
    env.set_site_active("redmond", false).await;
    let kubectl = &env;
    eventually(
        "pool3-pool4 is Stalled with TargetDown",
        CONVERGE,
        || async move {
            let reason = kubectl
                .jsonpath(
                    "poolpair/pool3-pool4",
                    "{.status.conditions[?(@.type==\"Stalled\")].reason}",
                )
                .await;
            expect_eq(&reason, "TargetDown")
        },
    )
    .await;
    env.wait_ready("poolpair/pool1-pool2").await;
    env.wait_ready("poolpair/pool5-pool6").await;
    let audit = env.audit();
    assert_clean(&audit);
    assert!(
        !audit.iter().any(|a| matches!(&a.command, Action::FailOverPool { pool, .. } if pool == "pool3.contoso.com")),
        "nothing ran for the blocked pair: {audit:#?}"
    );
    let ready = env
        .jsonpath(
            "topology/contoso",
            "{.status.conditions[?(@.type==\"Stalled\")].status}",
        )
        .await;
    assert_eq!(ready, "True");
    assert!(
        env.audit().iter().all(|a| a.outcome == Outcome::Succeeded),
        "every command that ran succeeded"
    );
    operator.shutdown().await;
}

/// The same plan published a second time (the same site failing over again) runs under keys of
/// its own: every step runs again, conference content is copied home again, nothing fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_site_failing_over_twice_runs_every_step_again() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    for active in [false, true, false, true] {
        env.set_site_active("redmond", active).await;
        env.wait_ready("site/redmond").await;
        env.wait_all_ready().await;
    }
    let audit = env.audit();
    assert_clean(&audit);
    let syncs = audit
        .iter()
        .filter(|a| {
            a.outcome == Outcome::Succeeded && matches!(a.command, Action::SyncBackup { .. })
        })
        .count();
    assert_eq!(
        syncs, 6,
        "three copies home after each failback: {audit:#?}"
    );
    let failovers = audit
        .iter()
        .filter(|a| {
            a.outcome == Outcome::Succeeded && matches!(a.command, Action::FailOverPool { .. })
        })
        .count();
    assert_eq!(failovers, 6, "{audit:#?}");
    let described = env
        .kubectl(&["describe", "topology", "contoso", "-n", NS])
        .await
        .ok();
    assert!(
        !described.contains("StepFailed"),
        "no step failed:\n{described}"
    );
    operator.shutdown().await;
}

/// A pool that dies while its site is still declared active leaves nothing to plan, yet its users
/// have no service: its pair, its site and the Topology say so (not Ready, `PoolDown`) and name
/// the change that would fail them over; nothing runs until that change is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_pool_in_an_active_site_is_not_ready_and_says_what_would_move_its_users() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;

    env.fault(Fault::PoolDown {
        pool: "pool3.contoso.com".into(),
    });
    let e = &env;
    for what in ["poolpair/pool3-pool4", "site/redmond", "topology/contoso"] {
        eventually(&format!("{what} says PoolDown"), CONVERGE, || async move {
            let ready = e
                .jsonpath(what, "{.status.conditions[?(@.type==\"Ready\")].status}/{.status.conditions[?(@.type==\"Ready\")].reason}")
                .await;
            expect_eq(&ready, "False/PoolDown")
        })
        .await;
    }
    let message = env
        .jsonpath(
            "poolpair/pool3-pool4",
            "{.status.conditions[?(@.type==\"Ready\")].message}",
        )
        .await;
    for part in [
        "pool3.contoso.com is down",
        "kubectl sfbdr site redmond --active=false",
        "pool4.contoso.com",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message:?}");
    }
    env.wait_ready("poolpair/pool1-pool2").await;
    assert!(
        !env.audit()
            .iter()
            .any(|a| matches!(&a.command, Action::FailOverPool { .. })),
        "nothing moves while the site is declared active"
    );
    operator.shutdown().await;
}

/// A site taken out of service with a pool that no PoolPair names: the paired pools fail over,
/// and the Site says that pool's users stay (not Ready, `UnpairedPools`) rather than Ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_out_of_service_names_the_pools_no_pair_can_move() {
    let mut observed = e2e::contoso_observed();
    let mut lonely = observed
        .pools
        .iter()
        .find(|p| p.fqdn == "pool3.contoso.com")
        .expect("pool3")
        .clone();
    lonely.fqdn = "pool7.contoso.com".into();
    lonely.backup_pool = None;
    lonely.served_by = Some(lonely.fqdn.clone());
    observed.pools.push(lonely);
    let env = Env::start(observed).await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    env.set_site_active("redmond", false).await;
    env.wait_ready("poolpair/pool1-pool2").await;
    let e = &env;
    eventually("redmond names pool7", CONVERGE, || async move {
        let ready = e
            .jsonpath("site/redmond", "{.status.conditions[?(@.type==\"Ready\")].reason}: {.status.conditions[?(@.type==\"Ready\")].message}")
            .await;
        if ready.starts_with("UnpairedPools: ") && ready.contains("pool7.contoso.com") {
            Ok(())
        } else {
            Err(ready)
        }
    })
    .await;
    operator.shutdown().await;
}

/// A Backup Service direction that never replicated (`NotInitialized`, as after a pool is rebuilt)
/// protects nothing: its pair and the Topology say `BackupInSync=False` (`NotProtected`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_service_that_never_replicated_is_not_protected() {
    let env = Env::contoso().await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;
    env.fault(Fault::Backup {
        from: "pool3.contoso.com".into(),
        export_state: sfb_dr::model::ExportState::NotInitialized,
        last_sync_age_seconds: None,
    });
    let e = &env;
    for what in ["poolpair/pool3-pool4", "topology/contoso"] {
        eventually(&format!("{what} is not protected"), CONVERGE, || async move {
            let c = e
                .jsonpath(what, "{.status.conditions[?(@.type==\"BackupInSync\")].status}/{.status.conditions[?(@.type==\"BackupInSync\")].reason}")
                .await;
            expect_eq(&c, "False/NotProtected")
        })
        .await;
    }
    let message = env
        .jsonpath(
            "poolpair/pool3-pool4",
            "{.status.conditions[?(@.type==\"BackupInSync\")].message}",
        )
        .await;
    assert!(
        message.contains("pool3.contoso.com -> pool4.contoso.com"),
        "{message}"
    );
    let other = env
        .jsonpath(
            "poolpair/pool1-pool2",
            "{.status.conditions[?(@.type==\"BackupInSync\")].status}",
        )
        .await;
    assert_eq!(other, "True", "only the pair that never replicated");
    operator.shutdown().await;
}

/// Planning rule 10 end to end: a mirrored Back End whose primary SQL Server fails, on the pool
/// that holds the CMS, has its databases failed over to the mirror; the users stay, the CMS is
/// never forced over, and the PoolPair is Ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirrored_back_end_whose_primary_fails_moves_its_databases_not_its_users() {
    use sfb_dr::model::{BackEndMirror, DatabaseType, Health, MirrorRole};
    let mut observed = e2e::contoso_observed();
    for p in &mut observed.pools {
        p.back_end = Some(Health::Up);
        p.back_end_mirror = Some(BackEndMirror {
            principal: MirrorRole::Primary,
            primary: Health::Up,
            mirror: Health::Up,
        });
    }
    let env = Env::start(observed).await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    env.wait_all_ready().await;

    env.fault(Fault::DatabaseServerDown {
        pool: "pool1.contoso.com".into(),
        server: MirrorRole::Primary,
    });
    let sim = &env.sim;
    eventually("pool1's databases on its mirror", CONVERGE, || async move {
        let t = sim.observe().map_err(|e| e.to_string())?;
        let p = t
            .pools
            .iter()
            .find(|p| p.fqdn == "pool1.contoso.com")
            .ok_or("no pool1")?;
        let principal = p.back_end_mirror.map(|m| m.principal);
        if principal == Some(MirrorRole::Mirror) && t.cms.active_master.is_some() {
            Ok(())
        } else {
            Err(format!(
                "principal {principal:?}, master {:?}",
                t.cms.active_master
            ))
        }
    })
    .await;
    env.wait_all_ready().await;
    let audit = env.audit();
    assert_clean(&audit);
    position(
        &audit,
        &Action::FailOverDatabase {
            pool: "pool1.contoso.com".into(),
            new_principal: MirrorRole::Mirror,
            databases: vec![DatabaseType::CentralMgmt, DatabaseType::User],
        },
    );
    assert!(
        !audit.iter().any(|a| matches!(
            &a.command,
            Action::FailOverPool { .. } | Action::FailOverCms { .. }
        )),
        "the users stay and the CMS is not moved: {audit:#?}"
    );
    assert_eq!(sim.observe().expect("observes").data_loss, Some(0));
    operator.shutdown().await;
}

/// Planning rule 11 end to end: the Edge pool carrying both federation routes dies. The SIP move
/// waits for a person, then the Edge services before the XMPP move; once both are confirmed (the
/// SIP route moved by hand), `Set-CsSite` moves the XMPP route, its DNS step waits for a person
/// in turn, and only then is the Topology Ready. No person's step ever reaches the driver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federation_routes_leave_a_dead_edge_pool_through_confirmed_steps() {
    use sfb_dr::model::{ObservedRoute, RouteKind};
    let mut observed = e2e::contoso_observed();
    observed.federation_routes = RouteKind::ALL
        .into_iter()
        .map(|kind| ObservedRoute {
            kind,
            edge: Some("edge1.contoso.com".into()),
        })
        .collect();
    let env = Env::start(observed).await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    let routes = r#"{"spec":{"federationRoutes":{"sip":["edge1.contoso.com","edge2.contoso.com"],"xmpp":["edge1.contoso.com","edge2.contoso.com"]}}}"#;
    env.kubectl(&[
        "patch", "-n", NS, "topology", "contoso", "--type", "merge", "-p", routes,
    ])
    .await
    .ok();
    env.wait_all_ready().await;

    env.fault(Fault::EdgeDown {
        edge: "edge1.contoso.com".into(),
    });
    eventually("the SIP move waits for a person", CONVERGE, || {
        awaiting(&env, "MoveSipFederationRoute")
    })
    .await;
    let reason = env
        .jsonpath(
            "topology/contoso",
            "{.status.conditions[?(@.type==\"Ready\")].reason}",
        )
        .await;
    assert_eq!(reason, "AwaitingConfirmation");
    assert!(
        !env.audit()
            .iter()
            .any(|a| matches!(a.command, Action::SetXmppFederationRoute { .. })),
        "Set-CsSite waits for the SIP move and the Edge services"
    );

    // The person moves SIP federation in Topology Builder and confirms; then stops the new
    // pool's Edge services and confirms; Set-CsSite follows.
    env.fault(Fault::SipRouteMovedByHand {
        edge: "edge2.contoso.com".into(),
    });
    confirm_waiting(&env).await;
    eventually("the Edge services wait for a person", CONVERGE, || {
        awaiting(&env, "StopEdgeServices")
    })
    .await;
    confirm_waiting(&env).await;
    eventually(
        "the DNS step of the XMPP move waits for a person",
        CONVERGE,
        || awaiting(&env, "PublishXmppFederationRoute"),
    )
    .await;
    let t = env.sim.observe().expect("observes");
    for r in &t.federation_routes {
        assert_eq!(r.edge.as_deref(), Some("edge2.contoso.com"), "{r:?}");
    }
    confirm_waiting(&env).await;
    env.wait_all_ready().await;
    let ledger = env
        .jsonpath("topology/contoso", "{.status.ledger.xmppRouteUnpublished}")
        .await;
    assert_eq!(ledger, "", "the DNS step is paid");
    let audit = env.audit();
    assert_clean(&audit);
    let commands: Vec<&Action> = audit.iter().map(|a| &a.command).collect();
    assert_eq!(
        commands,
        vec![&Action::SetXmppFederationRoute {
            site: "dublin".into(),
            edge: "edge2.contoso.com".into(),
        }],
        "only the cmdlet reaches the driver"
    );
    operator.shutdown().await;
}

/// Planning rule 12 end to end: redmond, the site of a Persistent Chat pool's primary database,
/// goes out of service. The pool waits for a person to bring the backup database online, then
/// fails over to dublin's servers; when redmond is back, its servers are cleared, a person
/// restores the primary database, and the pool returns. No person's step reaches the driver, and
/// no cmdlet runs before the person's step it waits for is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_chat_follows_its_site_through_confirmed_database_steps() {
    use sfb_dr::model::{ChatState, Health, ObservedChatPool, ObservedChatServer};
    const PCHAT: &str = "pchat.contoso.com";
    let server = |fqdn: &str, site: &str| ObservedChatServer {
        fqdn: fqdn.into(),
        health: Health::Up,
        site: Some(site.into()),
    };
    let mut observed = e2e::contoso_observed();
    observed.persistent_chat = vec![ObservedChatPool {
        fqdn: PCHAT.into(),
        state: Some(ChatState::Normal),
        active_servers: Some(vec!["pc1.contoso.com".into()]),
        servers: vec![
            server("pc1.contoso.com", "redmond"),
            server("pc2.contoso.com", "dublin"),
        ],
        primary_site: Some("redmond".into()),
        backup_site: Some("dublin".into()),
    }];
    let env = Env::start(observed).await;
    let operator = env.operator().await;
    env.apply_contoso().await;
    let chat = r#"{"spec":{"allowDataLoss":true,"persistentChat":[{"pool":"pchat.contoso.com","primary":{"site":"redmond","servers":["pc1.contoso.com"]},"backup":{"site":"dublin","servers":["pc2.contoso.com"]}}]}}"#;
    env.kubectl(&[
        "patch", "-n", NS, "topology", "contoso", "--type", "merge", "-p", chat,
    ])
    .await
    .ok();
    env.wait_all_ready().await;
    let chat_commands = |env: &Env| -> Vec<Action> {
        env.audit()
            .into_iter()
            .map(|a| a.command)
            .filter(|c| {
                matches!(
                    c,
                    Action::SetPersistentChatState { .. }
                        | Action::SetPersistentChatActiveServers { .. }
                )
            })
            .collect()
    };
    assert_eq!(
        chat_commands(&env),
        vec![],
        "a pool where it belongs is left alone"
    );

    env.set_site_active("redmond", false).await;
    eventually("the database recovery waits for a person", CONVERGE, || {
        awaiting(&env, "RecoverPersistentChatDatabase")
    })
    .await;
    assert_eq!(
        chat_commands(&env),
        vec![],
        "nothing before the database is online"
    );
    env.fault(Fault::PersistentChatDatabaseRecovered { pool: PCHAT.into() });
    confirm_waiting(&env).await;
    env.wait_all_ready().await;
    let state = |s: ChatState| Action::SetPersistentChatState {
        pool: PCHAT.into(),
        state: s,
    };
    let active = |servers: &[&str]| Action::SetPersistentChatActiveServers {
        pool: PCHAT.into(),
        servers: servers.iter().map(|s| (*s).to_owned()).collect(),
    };
    assert_eq!(
        chat_commands(&env),
        vec![state(ChatState::FailedOver), active(&["pc2.contoso.com"])]
    );
    let t = env.sim.observe().expect("observes");
    assert_eq!(t.persistent_chat[0].state, Some(ChatState::FailedOver));

    env.set_site_active("redmond", true).await;
    eventually("the restore waits for a person", CONVERGE, || {
        awaiting(&env, "RestorePersistentChatDatabase")
    })
    .await;
    assert_eq!(
        chat_commands(&env)[2..],
        [active(&[])],
        "the servers are cleared before the restore, and nothing runs after it yet"
    );
    env.fault(Fault::PersistentChatDatabaseRestored { pool: PCHAT.into() });
    confirm_waiting(&env).await;
    env.wait_all_ready().await;
    assert_eq!(
        chat_commands(&env)[2..],
        [
            active(&[]),
            state(ChatState::Normal),
            active(&["pc1.contoso.com"])
        ]
    );
    let audit = env.audit();
    assert_clean(&audit);
    assert!(
        !audit.iter().any(|a| a.command.is_manual()),
        "no person's step reaches the driver: {audit:#?}"
    );
    let t = env.sim.observe().expect("observes");
    assert_eq!(t.persistent_chat[0].state, Some(ChatState::Normal));
    assert_eq!(
        t.persistent_chat[0].active_servers.as_deref(),
        Some(&["pc1.contoso.com".to_owned()][..])
    );
    operator.shutdown().await;
}

/// Whether the steps awaiting a person are exactly `want` (their actions, in plan order).
async fn awaiting(env: &Env, want: &str) -> Result<(), String> {
    let actions = env
        .jsonpath(
            "topology/contoso",
            "{.status.plan.steps[?(@.state==\"AwaitingConfirmation\")].action}",
        )
        .await;
    let messages = env
        .jsonpath(
            "topology/contoso",
            "{.status.plan.steps[*].state} {.status.plan.steps[*].message} {.metadata.annotations} {.status.history}",
        )
        .await;
    expect_eq(&actions, want).map_err(|e| format!("{e}; steps: {messages}"))
}

/// Confirms every step that awaits a person, as `kubectl sfbdr confirm` would: with the key
/// each names in `confirmWith`.
async fn confirm_waiting(env: &Env) {
    let keys = env
        .jsonpath(
            "topology/contoso",
            "{.status.plan.steps[?(@.state==\"AwaitingConfirmation\")].confirmWith}",
        )
        .await;
    let keys: Vec<&str> = keys.split_whitespace().collect();
    assert!(!keys.is_empty(), "a step to confirm");
    env.annotate_topology(&format!("sfbdr.io/confirm-steps={}", keys.join(",")))
        .await;
}
