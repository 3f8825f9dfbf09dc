//! One file per subcommand.
pub mod model;
pub mod run;
