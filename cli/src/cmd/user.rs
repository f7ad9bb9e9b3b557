//! `sluice user`: the agency's analysts and their credentials (argon2id hashes in the
//! gateway's users file).

use std::path::PathBuf;

use sluice_gateway::Principal;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Add a user, or replace its password and roles. The password is read from
    /// `SLUICE_PASSWORD` or, if unset, from the first line of standard input.
    Add {
        /// `<agency>/<user>`, e.g. `bj_hf/alice`.
        principal: Principal,
        /// A role the agency gives the user; repeat for more.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// The gateway's users file (`[identity] users`).
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<()> {
    let Command::Add {
        principal,
        roles,
        users,
    } = cmd;
    let password = super::login::password()?;
    sluice_gateway::identity::users::add_user(&users, &principal, &roles, &password)?;
    println!("{principal} can log in; roles: {}", roles.join(", "));
    Ok(())
}
