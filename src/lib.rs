//! sfb-dr: declarative disaster recovery for Skype for Business Server.
//!
//! The pure core ([`model`], [`planner`]) decides; the shell ([`simulator`], the command line)
//! acts. See ARCHITECTURE.md for the map.

pub mod api;
pub mod controller;
pub mod declared;
pub mod driver;
pub mod manifest;
pub mod model;
pub mod planner;
pub mod simulator;
pub mod synthetic;
