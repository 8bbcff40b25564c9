//! Power-cut testing for the webhook service: a FUSE file system that keeps every un-synced
//! write in memory and forgets it on a cut ([`fs`]), and the pieces the driver uses.

pub mod check;
pub mod fs;
pub mod http;
pub mod load;
pub mod pages;
pub mod rng;
pub mod service;
