//! One file per subcommand.
pub mod generate;
pub mod lint;
pub mod model;
pub mod run;
pub mod verify;
